import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One dedicated OS thread that runs jobs in submission order against a context that lives on it.
///
/// Blocking calls (`curl_easy_perform`) run here, never on Swift's cooperative pool. The context
/// is made on the thread by `makeContext`, handed to each job, and released on the thread when
/// the worker stops, so it never crosses threads and need not be `Sendable` (a libcurl easy
/// handle must not be used by two threads at once).
///
/// Invariant: every accepted job and the one stop request each post the semaphore exactly once,
/// so the thread wakes once per job and once more to exit; jobs queued before `deinit` still run.
final class WorkerThread<Context: AnyObject>: Sendable {
    typealias Job = @Sendable (Context) -> Void

    private let queue: JobQueue<Context>
    private let thread: pthread_t

    /// Starts the thread, which first makes its context.
    init(makeContext: @escaping @Sendable () -> Context) {
        let queue = JobQueue<Context>()
        self.queue = queue
        let body = ThreadBody {
            let context = makeContext()
            while let job = queue.next() { job(context) }
            withExtendedLifetime(context) {}
        }
        var thread = pthread_t()
        let result = pthread_create(
            &thread,
            nil,
            { argument in
                let body = Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue()
                body.run()
                return nil
            },
            Unmanaged.passRetained(body).toOpaque()
        )
        precondition(result == 0, "pthread_create failed: \(result)")
        self.thread = thread
    }

    /// Queues `job`; false when the worker is stopping (the job will not run).
    func submit(_ job: @escaping Job) -> Bool {
        queue.append(job)
    }

    deinit {
        queue.stop()
        // The last reference may be dropped on the worker itself (by a job's captures): it
        // cannot join itself, so it detaches and exits after its current job.
        if pthread_equal(pthread_self(), thread) != 0 {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }
}

/// The thread's entry closure, boxed to pass through `pthread_create`'s `void *`.
private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// The jobs waiting for the worker, and the semaphore it sleeps on.
private final class JobQueue<Context: AnyObject>: Sendable {
    private struct State {
        var jobs: [WorkerThread<Context>.Job] = []
        var stopping = false
    }

    private let state = Mutex(State())
    private let wakeups = Semaphore()

    func append(_ job: @escaping WorkerThread<Context>.Job) -> Bool {
        let accepted = state.withLock { state in
            guard !state.stopping else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { wakeups.post() }
        return accepted
    }

    func stop() {
        state.withLock { $0.stopping = true }
        wakeups.post()
    }

    /// The next job, waiting for one; nil once stopped and drained.
    func next() -> WorkerThread<Context>.Job? {
        while true {
            wakeups.wait()
            let (job, stopped) = state.withLock { state -> (WorkerThread<Context>.Job?, Bool) in
                state.jobs.isEmpty ? (nil, state.stopping) : (state.jobs.removeFirst(), false)
            }
            if let job { return job }
            if stopped { return nil }
        }
    }
}

/// A POSIX counting semaphore. `sem_t` is made for use from several threads, and its storage is
/// fixed on the heap for the object's life.
private final class Semaphore: @unchecked Sendable {
    private let storage = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    init() { sem_init(storage, 0, 0) }

    deinit {
        sem_destroy(storage)
        storage.deallocate()
    }

    func post() { sem_post(storage) }

    func wait() {
        while sem_wait(storage) != 0 && errno == EINTR {}
    }
}
