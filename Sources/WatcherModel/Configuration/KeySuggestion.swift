/// The candidate a mistyped word most likely meant, or nil when none is close. Words are
/// compared without case and separators (`metrics-port` is `metrics_port`); a candidate is
/// close when few edits away (transpositions count once) or when one contains the other
/// (`pollinterval` → `poll_interval_seconds`).
func closestKey(to word: String, among candidates: [String]) -> String? {
    let typed = normalizedKey(word)
    guard !typed.isEmpty else { return nil }
    var best: (candidate: String, distance: Int)?
    for candidate in candidates {
        let known = normalizedKey(candidate)
        let distance = editDistance(typed, known)
        let allowed = max(1, min(3, known.count / 3))
        let contains = min(typed.count, known.count) >= 4 && (known.contains(typed) || typed.contains(known))
        guard distance <= allowed || contains else { continue }
        if best == nil || distance < best!.distance { best = (candidate, distance) }
    }
    return best?.candidate
}

private func normalizedKey(_ key: String) -> [Character] {
    key.lowercased().filter { $0 != "_" && $0 != "-" && $0 != " " && $0 != "." }.map { $0 }
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent
/// transpositions each cost one.
private func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previousPrevious = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                current[j] = min(current[j], previousPrevious[j - 2] + 1)
            }
        }
        (previousPrevious, previous, current) = (previous, current, previousPrevious)
    }
    return previous[b.count]
}
