import Synchronization

/// Token buckets by key (a tool, a host), refilled continuously at the given rate per minute.
final class RateLimiter: Sendable {
    private let buckets = Mutex<[String: (tokens: Double, at: ContinuousClock.Instant)]>([:])

    func take(_ key: String, perMinute: Int) -> Bool {
        guard perMinute > 0 else { return true }
        let now = ContinuousClock.now
        return buckets.withLock { buckets in
            let capacity = Double(perMinute)
            var bucket = buckets[key] ?? (tokens: capacity, at: now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at).seconds * capacity / 60)
            bucket.at = now
            defer { buckets[key] = bucket }
            guard bucket.tokens >= 1 else { return false }
            bucket.tokens -= 1
            return true
        }
    }

    /// Forgets a key's bucket (its rate changed).
    func reset(_ key: String) { buckets.withLock { $0[key] = nil } }
}
