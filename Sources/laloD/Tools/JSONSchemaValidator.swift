import Shared

/// Checks a JSON value against a JSON Schema given as data (a tool's `responseSchema`, a model's
/// answer schema). Covers the keywords such schemas use: `type` (one or a list), `enum`, `const`,
/// `properties`, `required`, `additionalProperties` (false or a schema), `items`, `minItems`,
/// `maxItems`, `minimum`, `maximum`, `minLength`, `maxLength`, `anyOf` and `oneOf` (checked as `anyOf`). Unknown keywords are ignored, as
/// the JSON Schema specification says; a schema that is not an object accepts everything.
enum JSONSchemaValidator {
    /// The first problem found, as `path: message`, or nil when the value matches.
    static func firstProblem(_ value: JSONValue, schema: JSONValue, path: String = "$") -> String? {
        guard case .object(let rules) = schema else { return nil }
        if let type = rules["type"] {
            let allowed = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue].compactMap { $0 }
            if !allowed.isEmpty && !allowed.contains(where: { matches(value, type: $0) }) {
                return "\(path): expected \(allowed.joined(separator: " or ")), got \(value.typeName)"
            }
        }
        if let options = rules["enum"]?.arrayValue, !options.contains(value) {
            return "\(path): not one of the allowed values"
        }
        if let constant = rules["const"], constant != value { return "\(path): not the required value" }
        if let options = rules["anyOf"]?.arrayValue ?? rules["oneOf"]?.arrayValue {
            let problems = options.map { firstProblem(value, schema: $0, path: path) }
            if !problems.contains(where: { $0 == nil }) {
                return problems.compactMap { $0 }.min(by: { $0.count > $1.count })
                    ?? "\(path): matches none of the alternatives"
            }
        }
        switch value {
        case .object(let object):
            for name in rules["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[name] == nil {
                return "\(path).\(name): required"
            }
            let properties = rules["properties"]?.objectValue ?? [:]
            for (key, member) in object.sorted(by: { $0.key < $1.key }) {
                if let propertySchema = properties[key] {
                    if let problem = firstProblem(member, schema: propertySchema, path: "\(path).\(key)") {
                        return problem
                    }
                } else if let additional = rules["additionalProperties"] {
                    if additional == .bool(false) { return "\(path).\(key): not allowed" }
                    if let problem = firstProblem(member, schema: additional, path: "\(path).\(key)") { return problem }
                }
            }
        case .array(let items):
            if let minimum = rules["minItems"]?.intValue, items.count < minimum {
                return "\(path): fewer than \(minimum) items"
            }
            if let maximum = rules["maxItems"]?.intValue, items.count > maximum {
                return "\(path): more than \(maximum) items"
            }
            if let itemSchema = rules["items"] {
                for (index, item) in items.enumerated() {
                    if let problem = firstProblem(item, schema: itemSchema, path: "\(path)[\(index)]") {
                        return problem
                    }
                }
            }
        case .string(let text):
            if let minimum = rules["minLength"]?.intValue, text.count < minimum {
                return "\(path): shorter than \(minimum)"
            }
            if let maximum = rules["maxLength"]?.intValue, text.count > maximum {
                return "\(path): longer than \(maximum)"
            }
        case .int, .double:
            let number = value.numberValue!
            if let minimum = rules["minimum"]?.numberValue, number < minimum { return "\(path): below \(minimum)" }
            if let maximum = rules["maximum"]?.numberValue, number > maximum { return "\(path): above \(maximum)" }
        default:
            break
        }
        return nil
    }

    private static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null):
            return true
        case ("integer", .int): return true
        case ("integer", .double(let d)): return d.rounded() == d
        case ("number", .int), ("number", .double): return true
        default: return false
        }
    }
}
