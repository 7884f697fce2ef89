import Shared

/// The stored form of a ``WorkflowEvent``: its name and fields as JSON, so the log can be
/// replayed by any later version of laloD.
extension WorkflowEvent {
    var json: JSONValue {
        var object: [String: JSONValue] = ["name": .string(name)]
        switch self {
        case .interpreted(let confident): object["confident"] = .bool(confident)
        case .planned(let hash, let needsApproval):
            object["planHash"] = .string(hash)
            object["needsApproval"] = .bool(needsApproval)
        case .approved(let hash): object["planHash"] = hash.map(JSONValue.string) ?? .null
        case .rejected(let replan), .executionRolledBack(let replan), .rolledBack(let replan):
            object["replan"] = .bool(replan)
        case .edited(let hash): object["planHash"] = .string(hash)
        case .failed(let reason): object["reason"] = .string(reason)
        case .clarified, .clarificationNeeded, .executed, .cancelled, .paused, .resumed: break
        }
        return .object(object)
    }

    struct Undecodable: Error, CustomStringConvertible {
        var description: String
    }

    init(json: JSONValue) throws {
        func bool(_ key: String) throws -> Bool {
            guard let value = json[key]?.boolValue else {
                throw Undecodable(description: "event without \(key): \(JSONWriter.string(json))")
            }
            return value
        }
        func string(_ key: String) throws -> String {
            guard let value = json[key]?.stringValue else {
                throw Undecodable(description: "event without \(key): \(JSONWriter.string(json))")
            }
            return value
        }
        switch json["name"]?.stringValue {
        case "interpreted": self = .interpreted(confident: try bool("confident"))
        case "clarified": self = .clarified
        case "clarificationNeeded": self = .clarificationNeeded
        case "planned": self = .planned(planHash: try string("planHash"), needsApproval: try bool("needsApproval"))
        case "approved": self = .approved(planHash: json["planHash"]?.stringValue)
        case "rejected": self = .rejected(replan: try bool("replan"))
        case "edited": self = .edited(planHash: try string("planHash"))
        case "executed": self = .executed
        case "executionRolledBack": self = .executionRolledBack(replan: try bool("replan"))
        case "rolledBack": self = .rolledBack(replan: try bool("replan"))
        case "failed": self = .failed(reason: try string("reason"))
        case "cancelled": self = .cancelled
        case "paused": self = .paused
        case "resumed": self = .resumed
        default: throw Undecodable(description: "unknown event \(JSONWriter.string(json))")
        }
    }
}
