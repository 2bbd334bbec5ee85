import SwitchyardCore

// TEMPORARY stand-in until the byte scanner lands: same API, built on the JSON tree.
struct RequestBodyScan {
    var tree: [String: JSONValue]
    var isObject: Bool

    static func scan(_ bytes: UnsafeRawBufferPointer) throws -> RequestBodyScan {
        let value = try JSONValue.parse(buffer: bytes)
        guard case .object(let object) = value else { return RequestBodyScan(tree: [:], isObject: false) }
        return RequestBodyScan(tree: object, isObject: true)
    }

    var model: String? { tree["model"]?.stringValue }
    var streamIsInvalid: Bool {
        switch tree["stream"] {
        case nil, .null?, .bool?: return false
        default: return true
        }
    }
    var stream: Bool? { tree["stream"]?.boolValue }
    var user: String? { tree["user"]?.stringValue }
    var includeUsage: Bool? { tree["stream_options"]?["include_usage"]?.boolValue }
    var hasMessages: Bool { !(tree["messages"]?.arrayValue?.isEmpty ?? true) }
    var hasInput: Bool { tree["input"].map { $0 != .null } ?? false }
    var promptBytes: Int {
        var characters = 0
        for message in tree["messages"]?.arrayValue ?? [] {
            switch message["content"] {
            case .string(let text)?: characters += text.utf8.count
            case .array(let parts)?: characters += parts.reduce(0) { $0 + ($1["text"]?.stringValue?.utf8.count ?? 0) }
            default: break
            }
        }
        if case .string(let input)? = tree["input"] { characters += input.utf8.count }
        return characters
    }
    var maxOutputTokens: Int? { (tree["max_completion_tokens"] ?? tree["max_tokens"])?.intValue(clampedTo: 0...10_000_000) }
}

struct JSONSplice {
    var tree: [String: JSONValue]
    init(scan: RequestBodyScan) { tree = scan.tree }
    mutating func setModel(_ model: String) { tree["model"] = .string(model) }
    mutating func setMember(_ key: String, to value: JSONValue) { tree[key] = value }
    mutating func setSystemPrompt(_ prompt: String) {
        var messages = tree["messages"]?.arrayValue ?? []
        let system = JSONValue.object(["role": .string("system"), "content": .string(prompt)])
        if let index = messages.firstIndex(where: { $0["role"]?.stringValue == "system" }) {
            messages[index] = system
        } else {
            messages.insert(system, at: 0)
        }
        tree["messages"] = .array(messages)
    }
    mutating func requestIncludedUsage() {
        var options = tree["stream_options"]?.objectValue ?? [:]
        options["include_usage"] = .bool(true)
        tree["stream_options"] = .object(options)
    }
    var extraCapacity: Int { 64 }
    func apply(to original: UnsafeRawBufferPointer, _ write: ([UInt8]) -> Void) { write(JSONValue.object(tree).jsonBytes) }
}
