/// The subset of JSON Schema (2020-12) that LALO's method definitions use.
///
/// One value serves two purposes: ``validate(_:at:)`` checks incoming params before they are
/// decoded, and ``json`` renders the same rules into the OpenRPC document, so the published
/// contract and the enforced one cannot drift apart.
public indirect enum Schema: Sendable {
    case object(ObjectRules)
    case string(StringRules)
    case integer(description: String?, minimum: Int64?, maximum: Int64?)
    case number(description: String?)
    case boolean(description: String?)
    case array(items: Schema, description: String?, maxItems: Int?)
    /// Any JSON value (used for free-form results such as the OpenRPC document itself).
    case any(description: String?)
    /// A reference to a named component schema in the OpenRPC document (results only).
    case ref(String)

    public struct Property: Sendable {
        public var name: String
        public var schema: Schema
        public var required: Bool
    }

    public struct ObjectRules: Sendable {
        public var description: String?
        public var properties: [Property]
        /// Free-form maps (`additionalProperties: schema`) instead of fixed properties.
        public var additionalProperties: Schema?
    }

    public struct StringRules: Sendable {
        public var description: String?
        public var enumValues: [String]?
        public var minLength: Int?
        public var maxLength: Int?
        public var format: String?
        /// Checked in code rather than by regex; shown in the document as `pattern`.
        public var pattern: String?
        public var check: (@Sendable (String) -> Bool)?
    }

    // MARK: Builders, so method definitions read like documentation.

    public static func object(_ description: String? = nil, _ properties: [Property]) -> Schema {
        .object(ObjectRules(description: description, properties: properties, additionalProperties: nil))
    }

    public static func map(_ description: String? = nil, values: Schema) -> Schema {
        .object(ObjectRules(description: description, properties: [], additionalProperties: values))
    }

    public static func string(
        _ description: String? = nil, enum values: [String]? = nil, minLength: Int? = nil, maxLength: Int? = nil,
        format: String? = nil, pattern: String? = nil, check: (@Sendable (String) -> Bool)? = nil
    ) -> Schema {
        .string(
            StringRules(
                description: description, enumValues: values, minLength: minLength, maxLength: maxLength,
                format: format, pattern: pattern, check: check))
    }

    public static func integer(_ description: String? = nil, minimum: Int64? = nil, maximum: Int64? = nil) -> Schema {
        .integer(description: description, minimum: minimum, maximum: maximum)
    }

    public static func boolean(_ description: String? = nil) -> Schema { .boolean(description: description) }

    public static func array(_ items: Schema, _ description: String? = nil, maxItems: Int? = nil) -> Schema {
        .array(items: items, description: description, maxItems: maxItems)
    }

    public static let empty: Schema = .object(nil, [])
}

extension Schema.Property {
    public static func required(_ name: String, _ schema: Schema) -> Self {
        .init(name: name, schema: schema, required: true)
    }
    public static func optional(_ name: String, _ schema: Schema) -> Self {
        .init(name: name, schema: schema, required: false)
    }
}

// MARK: - Validation

extension Schema {
    /// Checks `value` against the schema.
    ///
    /// - Throws: ``RPCError`` of kind `invalidParams` naming the first failing field as a dotted
    ///   path (`params.subject.uid`, `params.permissions[2]`).
    public func validate(_ value: JSONValue, at path: String = "params") throws(RPCError) {
        switch self {
        case .object(let rules):
            guard case .object(let object) = value else { throw mismatch(path, "an object", value) }
            if let additional = rules.additionalProperties {
                for (key, element) in object { try additional.validate(element, at: "\(path).\(key)") }
                return
            }
            for property in rules.properties {
                let childPath = "\(path).\(property.name)"
                if let element = object[property.name], element != .null {
                    try property.schema.validate(element, at: childPath)
                } else if property.required {
                    throw RPCError.invalidParams("missing required field \(childPath)", field: childPath)
                }
            }
            // Deny unknown fields: a typo must not silently become "parameter not given".
            let known = Set(rules.properties.map(\.name))
            if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
                throw RPCError.invalidParams("unknown field \(path).\(unknown)", field: "\(path).\(unknown)")
            }
        case .string(let rules):
            guard case .string(let s) = value else { throw mismatch(path, "a string", value) }
            if let values = rules.enumValues, !values.contains(s) {
                throw RPCError.invalidParams("\(path) must be one of \(values.joined(separator: ", "))", field: path)
            }
            let count = s.unicodeScalars.count
            if let min = rules.minLength, count < min {
                throw RPCError.invalidParams("\(path) must have at least \(min) characters", field: path)
            }
            if let max = rules.maxLength, count > max {
                throw RPCError.invalidParams("\(path) must have at most \(max) characters", field: path)
            }
            if let check = rules.check, !check(s) {
                let what = rules.format.map { "a valid \($0)" } ?? rules.pattern.map { "matching \($0)" } ?? "valid"
                throw RPCError.invalidParams("\(path) must be \(what)", field: path)
            }
        case .integer(_, let minimum, let maximum):
            // JSON Schema counts 2.0 as an integer; intValue accepts exactly those doubles.
            guard let i = value.intValue else { throw mismatch(path, "an integer", value) }
            if let minimum, i < minimum {
                throw RPCError.invalidParams("\(path) must be at least \(minimum)", field: path)
            }
            if let maximum, i > maximum {
                throw RPCError.invalidParams("\(path) must be at most \(maximum)", field: path)
            }
        case .number:
            switch value {
            case .int, .double: break
            default: throw mismatch(path, "a number", value)
            }
        case .boolean:
            guard case .bool = value else { throw mismatch(path, "a boolean", value) }
        case .array(let items, _, let maxItems):
            guard case .array(let elements) = value else { throw mismatch(path, "an array", value) }
            if let maxItems, elements.count > maxItems {
                throw RPCError.invalidParams("\(path) must have at most \(maxItems) items", field: path)
            }
            for (i, element) in elements.enumerated() { try items.validate(element, at: "\(path)[\(i)]") }
        case .any, .ref:
            break
        }
    }

    private func mismatch(_ path: String, _ expected: String, _ value: JSONValue) -> RPCError {
        RPCError.invalidParams("\(path) must be \(expected), not \(value.typeName)", field: path)
    }
}

// MARK: - Rendering

extension Schema {
    /// The schema as a JSON Schema document fragment.
    public var json: JSONValue {
        switch self {
        case .object(let rules):
            var o: [String: JSONValue] = ["type": "object"]
            if let d = rules.description { o["description"] = .string(d) }
            if let additional = rules.additionalProperties {
                o["additionalProperties"] = additional.json
            } else {
                o["properties"] = .object(
                    Dictionary(uniqueKeysWithValues: rules.properties.map { ($0.name, $0.schema.json) }))
                let required = rules.properties.filter(\.required).map { JSONValue.string($0.name) }
                if !required.isEmpty { o["required"] = .array(required) }
                o["additionalProperties"] = false
            }
            return .object(o)
        case .string(let rules):
            var o: [String: JSONValue] = ["type": "string"]
            if let d = rules.description { o["description"] = .string(d) }
            if let e = rules.enumValues { o["enum"] = .array(e.map(JSONValue.string)) }
            if let m = rules.minLength { o["minLength"] = .int(Int64(m)) }
            if let m = rules.maxLength { o["maxLength"] = .int(Int64(m)) }
            if let f = rules.format { o["format"] = .string(f) }
            if let p = rules.pattern { o["pattern"] = .string(p) }
            return .object(o)
        case .integer(let description, let minimum, let maximum):
            var o: [String: JSONValue] = ["type": "integer"]
            if let description { o["description"] = .string(description) }
            if let minimum { o["minimum"] = .int(minimum) }
            if let maximum { o["maximum"] = .int(maximum) }
            return .object(o)
        case .number(let description):
            var o: [String: JSONValue] = ["type": "number"]
            if let description { o["description"] = .string(description) }
            return .object(o)
        case .boolean(let description):
            var o: [String: JSONValue] = ["type": "boolean"]
            if let description { o["description"] = .string(description) }
            return .object(o)
        case .array(let items, let description, let maxItems):
            var o: [String: JSONValue] = ["type": "array", "items": items.json]
            if let description { o["description"] = .string(description) }
            if let maxItems { o["maxItems"] = .int(Int64(maxItems)) }
            return .object(o)
        case .any(let description):
            if let description { return ["description": .string(description)] }
            return [:]
        case .ref(let name):
            return ["$ref": .string("#/components/schemas/\(name)")]
        }
    }
}
