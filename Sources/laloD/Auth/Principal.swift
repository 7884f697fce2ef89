import Shared

/// The caller of a session, established by the kernel (`SO_PEERCRED`) when the connection is
/// accepted. Nothing the client sends can change it.
struct Principal: Sendable, Equatable {
    var uid: UInt32
    var gid: UInt32
    var pid: Int32
    var user: String
    /// Primary group and the user's supplementary groups from the group database.
    var groupIDs: [UInt32]
    var groupNames: [String]

    /// Layout of `struct ucred` (<sys/socket.h>), read with getsockopt(SO_PEERCRED).
    struct PeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    init(uid: UInt32, gid: UInt32, pid: Int32, user: String, groupIDs: [UInt32], groupNames: [String]) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.user = user
        self.groupIDs = groupIDs
        self.groupNames = groupNames
    }

    /// Resolves names and groups for kernel-reported credentials.
    ///
    /// Supplementary groups are taken from the group database (getgrouplist), as a login would,
    /// because `SO_PEERCRED` reports only the primary gid.
    init(credentials: PeerCredentials) {
        let name = UserDatabase.userName(uid: credentials.uid)
        var gids = [credentials.gid]
        if let name {
            for gid in UserDatabase.groupIDs(user: name, primaryGroup: credentials.gid) where !gids.contains(gid) {
                gids.append(gid)
            }
        }
        self.init(
            uid: credentials.uid, gid: credentials.gid, pid: credentials.pid, user: name ?? String(credentials.uid),
            groupIDs: gids, groupNames: gids.map { UserDatabase.groupName(gid: $0) ?? String($0) })
    }
}
