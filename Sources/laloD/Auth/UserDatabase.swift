#if canImport(Glibc)
    import Glibc
#endif

/// Reentrant look-ups in the passwd and group databases (NSS), used for role mapping.
enum UserDatabase {
    static func userName(uid: UInt32) -> String? {
        withBuffer { buffer in
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>? = nil
            let rc = getpwuid_r(uid, &entry, buffer.baseAddress!, buffer.count, &result)
            if rc == ERANGE { return .retry }
            guard rc == 0, result != nil, let name = entry.pw_name else { return .done(nil) }
            return .done(String(cString: name))
        }
    }

    static func userID(name: String) -> UInt32? {
        if let numeric = UInt32(name) { return numeric }
        return withBuffer { buffer in
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>? = nil
            let rc = getpwnam_r(name, &entry, buffer.baseAddress!, buffer.count, &result)
            if rc == ERANGE { return .retry }
            guard rc == 0, result != nil else { return .done(nil) }
            return .done(entry.pw_uid)
        }
    }

    static func groupName(gid: UInt32) -> String? {
        withBuffer { buffer in
            var entry = group()
            var result: UnsafeMutablePointer<group>? = nil
            let rc = getgrgid_r(gid, &entry, buffer.baseAddress!, buffer.count, &result)
            if rc == ERANGE { return .retry }
            guard rc == 0, result != nil, let name = entry.gr_name else { return .done(nil) }
            return .done(String(cString: name))
        }
    }

    static func groupID(name: String) -> UInt32? {
        if let numeric = UInt32(name) { return numeric }
        return withBuffer { buffer in
            var entry = group()
            var result: UnsafeMutablePointer<group>? = nil
            let rc = getgrnam_r(name, &entry, buffer.baseAddress!, buffer.count, &result)
            if rc == ERANGE { return .retry }
            guard rc == 0, result != nil else { return .done(nil) }
            return .done(entry.gr_gid)
        }
    }

    /// All groups `user` belongs to, the primary one included.
    static func groupIDs(user: String, primaryGroup: UInt32) -> [UInt32] {
        var count: Int32 = 64
        while true {
            var groups = [gid_t](repeating: 0, count: Int(count))
            var n = count
            if getgrouplist(user, primaryGroup, &groups, &n) >= 0 {
                return Array(groups.prefix(Int(n)))
            }
            guard n > count, n < 65536 else { return [primaryGroup] }
            count = n
        }
    }

    private enum Attempt<T> {
        case done(T)
        case retry
    }

    private static func withBuffer<T>(_ body: (UnsafeMutableBufferPointer<CChar>) -> Attempt<T?>) -> T? {
        var size = 1024
        while size <= 1 << 20 {
            let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            switch body(buffer) {
            case .done(let value): return value
            case .retry: size *= 4
            }
        }
        return nil
    }
}
