#if canImport(Glibc)
import Glibc
#endif

/// Opens a file named by a path someone else may control (a component's `log_files` and
/// `pid_file`, which a tenant who can write the directory could point elsewhere), resolving
/// the path one component at a time from open descriptors rather than letting the kernel
/// follow it:
///
/// - every symbolic link on the way, a directory's or the file's own, is followed only when
///   the link and what it leads to have the same owner (the rule web servers call
///   SymLinksIfOwnerMatch), and at most `maxLinks` of them;
/// - only a regular file is opened for reading, and only after `fstat` on a descriptor that
///   cannot read (`O_PATH`) said so: a FIFO, a device, a socket or a directory is refused
///   without being opened, so nothing can block the caller or hand it endless bytes;
/// - a file with more than one hard link must have the owner of the directory holding it (a
///   hard link to another user's file in a tenant's directory looks like a plain file).
///
/// The file is opened again through its `O_PATH` descriptor (`/proc/self/fd`), so the checked
/// inode is the one read: a swap after the checks cannot substitute another. Blocking (a few
/// system calls per path component): callers run on the sampler's I/O thread pool.
enum OwnerCheckedPath {
    /// What opening a path found.
    enum Opened {
        /// A regular file open for reading (non-blocking, close-on-exec); the caller closes it.
        case file(descriptor: Int32, status: stat)
        case missing
        /// There is something at the path the agent must not read; why, for the operator.
        case refused(String)
    }

    /// Symbolic links followed while resolving one path, like the kernel's own limit.
    static let maxLinks = 40

    /// Linux's `O_PATH` and `OwnerCheckedPath.atEmptyPath` (Glibc defines them only with `_GNU_SOURCE`, which
    /// Swift's Glibc module does not set); the values of every architecture Swift runs on.
    private static let openPathOnly: Int32 = 0o10_000_000
    private static let atEmptyPath: Int32 = 0x1000

    /// Opens the regular file at `path` for reading under the rules above.
    static func open(_ path: String) -> Opened {
        var walk = Walk()
        defer { walk.closeAll() }
        switch walk.resolve(path, from: AT_FDCWD, followingLast: true) {
        case .failure(.missing):
            return .missing
        case .failure(.refused(let reason)):
            return .refused(reason)
        case .success(let found):
            guard (found.status.st_mode & S_IFMT) == S_IFREG else {
                return .refused("not a regular file (\(kind(found.status.st_mode)))")
            }
            if found.status.st_nlink > 1 && found.parentOwner != found.status.st_uid {
                return .refused(
                    "a file with \(found.status.st_nlink) hard links owned by uid \(found.status.st_uid) in a"
                        + " directory owned by uid \(found.parentOwner) (a hard link must have the directory's owner)"
                )
            }
            let descriptor = Glibc.open(
                "/proc/self/fd/\(found.descriptor)",
                O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY
            )
            guard descriptor >= 0 else { return .missing }
            var opened = stat()
            guard fstat(descriptor, &opened) == 0, (opened.st_mode & S_IFMT) == S_IFREG,
                opened.st_dev == found.status.st_dev, opened.st_ino == found.status.st_ino
            else {
                close(descriptor)
                return .missing
            }
            return .file(descriptor: descriptor, status: opened)
        }
    }

    /// A file type for an operator ("a FIFO").
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: "a FIFO"
        case S_IFDIR: "a directory"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "mode \(String(mode & S_IFMT, radix: 8))"
        }
    }

    private enum Failure: Error {
        case missing
        case refused(String)
    }

    /// What a path resolved to: an `O_PATH` descriptor on it, its status, and the owner of the
    /// directory whose entry it is.
    private struct Found {
        var descriptor: Int32
        var status: stat
        var parentOwner: uid_t
    }

    /// One resolution: the descriptors it opened (closed together at the end) and the links
    /// it followed.
    private struct Walk {
        private var descriptors: [Int32] = []
        private var linksFollowed = 0

        mutating func closeAll() {
            for descriptor in descriptors { close(descriptor) }
            descriptors = []
        }

        private mutating func openPath(_ name: String, in directory: Int32, flags: Int32 = 0) -> Int32? {
            let descriptor = openat(directory, name, OwnerCheckedPath.openPathOnly | O_NOFOLLOW | O_CLOEXEC | flags)
            guard descriptor >= 0 else { return nil }
            descriptors.append(descriptor)
            return descriptor
        }

        /// Resolves `path` from the directory `start`; the last component's link is followed
        /// only with `followingLast` (a directory on the way is always followed, checked).
        mutating func resolve(_ path: String, from start: Int32, followingLast: Bool) -> Result<Found, Failure> {
            var directory = start
            if path.hasPrefix("/") {
                guard let root = openPath("/", in: AT_FDCWD, flags: O_DIRECTORY) else { return .failure(.missing) }
                directory = root
            }
            var directoryStatus = stat()
            guard fstatat(directory, "", &directoryStatus, OwnerCheckedPath.atEmptyPath) == 0 else {
                return .failure(.missing)
            }
            let names = path.split(separator: "/").map(String.init)
            guard !names.isEmpty else {
                // "/" itself, or ".": a directory.
                return .success(
                    Found(descriptor: directory, status: directoryStatus, parentOwner: directoryStatus.st_uid)
                )
            }
            for (index, name) in names.enumerated() {
                let isLast = index == names.count - 1
                guard let descriptor = openPath(name, in: directory) else { return .failure(.missing) }
                var status = stat()
                guard fstatat(descriptor, "", &status, OwnerCheckedPath.atEmptyPath) == 0 else {
                    return .failure(.missing)
                }
                var found = Found(descriptor: descriptor, status: status, parentOwner: directoryStatus.st_uid)
                if (status.st_mode & S_IFMT) == S_IFLNK && (!isLast || followingLast) {
                    let shown = (path.hasPrefix("/") ? "/" : "") + names[...index].joined(separator: "/")
                    switch follow(link: descriptor, owner: status.st_uid, in: directory, shownAs: isLast ? nil : shown)
                    {
                    case .failure(let failure): return .failure(failure)
                    case .success(let target): found = target
                    }
                }
                if isLast { return .success(found) }
                guard (found.status.st_mode & S_IFMT) == S_IFDIR else { return .failure(.missing) }
                directory = found.descriptor
                directoryStatus = found.status
            }
            return .failure(.missing)
        }

        /// What the link at `link` (owned by `owner`, in `directory`) leads to, followed to the
        /// end; refused when that has another owner. `shownAs` names a directory link on the way
        /// in the refusal.
        private mutating func follow(
            link: Int32,
            owner: uid_t,
            in directory: Int32,
            shownAs shown: String?
        ) -> Result<Found, Failure> {
            linksFollowed += 1
            guard linksFollowed <= OwnerCheckedPath.maxLinks else {
                return .failure(.refused("more than \(OwnerCheckedPath.maxLinks) symbolic links on the way"))
            }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
            let length = readlinkat(link, "", &buffer, buffer.count)
            guard length > 0, length < buffer.count else { return .failure(.missing) }
            let target = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            switch resolve(target, from: directory, followingLast: true) {
            case .failure(let failure):
                return .failure(failure)
            case .success(let found):
                guard found.status.st_uid == owner else {
                    let what = (found.status.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "a file"
                    let place = shown.map { "\($0) is " } ?? ""
                    return .failure(
                        .refused(
                            "\(place)a symlink owned by uid \(owner) to \(what) owned by uid \(found.status.st_uid)"
                                + " (followed only when both have the same owner)"
                        )
                    )
                }
                return .success(found)
            }
        }
    }
}
