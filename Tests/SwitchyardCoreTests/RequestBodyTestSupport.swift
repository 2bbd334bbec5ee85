import Foundation
import Testing

@testable import SwitchyardCore
/// Rounds of the random-body property tests: `SWITCHYARD_FUZZ_ROUNDS` (`make fuzz`), else a few thousand.
let propertyTestRounds = ProcessInfo.processInfo.environment["SWITCHYARD_FUZZ_ROUNDS"].flatMap(Int.init)

func scanning(_ body: String) throws -> RequestBodyScan {
    try RequestBodyScan.scan(Array(body.utf8))
}

func parsedObject(_ body: some Collection<UInt8>) throws -> [String: JSONValue] {
    try #require(try JSONValue.parse(body).objectValue)
}

func parsedObject(_ body: String) throws -> [String: JSONValue] {
    try parsedObject(Array(body.utf8))
}

func text(of range: Range<Int>, in body: String) -> String {
    String(decoding: Array(body.utf8)[range], as: UTF8.self)
}

func rewritten(_ body: String, _ change: (inout RequestBodyRewrite) -> Void) throws -> String {
    var rewrite = RequestBodyRewrite(scan: try scanning(body))
    change(&rewrite)
    return String(decoding: rewrite.apply(to: Array(body.utf8)), as: UTF8.self)
}

func outcome(scanning body: [UInt8]) -> Result<RoutingFields?, JSONParseError> {
    Result { () throws(JSONParseError) -> RoutingFields? in
        let scan = try RequestBodyScan.scan(body)
        return scan.isObject ? RoutingFields(scan) : nil
    }
}

func outcome(parsing body: [UInt8]) -> Result<RoutingFields?, JSONParseError> {
    Result { () throws(JSONParseError) -> RoutingFields? in try JSONValue.parse(body).objectValue.map(RoutingFields.init) }
}

func kind(of value: JSONValue) -> JSONValueKind {
    switch value {
    case .null: .null
    case .bool: .bool
    case .number: .number
    case .string: .string
    case .array: .array
    case .object: .object
    }
}

/// The fields the gateway routes on, from a scan or, as the gateway reads them today, from a parsed body.
struct RoutingFields: Equatable {
    var model: String?
    var stream: Bool?
    var streamHasInvalidType = false
    var user: String?
    var includeUsage: Bool?
    var hasMessages: Bool
    var hasInput: Bool
    var maxTokens: Int?
    var promptBytes: Int
    var roles: [String?]?

    init(_ scan: RequestBodyScan) {
        model = scan.model
        stream = scan.stream
        streamHasInvalidType = scan.streamHasInvalidType
        user = scan.user
        includeUsage = scan.includeUsage
        hasMessages = scan.hasMessages
        hasInput = scan.hasInput
        maxTokens = scan.maxTokens
        promptBytes = scan.promptBytes
        roles = scan.messages?.map(\.role)
    }

    /// As `ClientAPIController` reads a parsed body (`relay` and `estimate`).
    init(_ body: [String: JSONValue]) {
        model = body["model"]?.stringValue
        switch body["stream"] {
        case nil, .null?: stream = nil
        case .bool(let value)?: stream = value
        default: streamHasInvalidType = true
        }
        user = body["user"]?.stringValue
        includeUsage = body["stream_options"]?["include_usage"]?.boolValue
        hasMessages = !(body["messages"]?.arrayValue?.isEmpty ?? true)
        hasInput = body["input"].map { $0 != .null } ?? false
        maxTokens = (body["max_completion_tokens"] ?? body["max_tokens"])?.intValue(clampedTo: 0...10_000_000)
        var characters = 0
        for message in body["messages"]?.arrayValue ?? [] {
            switch message["content"] {
            case .string(let text)?: characters += text.utf8.count
            case .array(let parts)?: characters += parts.reduce(0) { $0 + ($1["text"]?.stringValue?.utf8.count ?? 0) }
            default: break
            }
        }
        if case .string(let input)? = body["input"] { characters += input.utf8.count }
        promptBytes = characters
        roles = body["messages"]?.arrayValue?.map { $0["role"]?.stringValue }
    }
}

/// The gateway's edits of a parsed body (`ClientAPIController.apply` and `relay`), to compare splices with.
enum Reference {
    static func setSystemPrompt(_ prompt: String, in body: inout [String: JSONValue]) {
        var messages = body["messages"]?.arrayValue ?? []
        let system = JSONValue.object(["role": .string("system"), "content": .string(prompt)])
        if let index = messages.firstIndex(where: { $0["role"]?.stringValue == "system" }) {
            messages[index] = system
        } else {
            messages.insert(system, at: 0)
        }
        body["messages"] = .array(messages)
    }

    static func includeUsage(in body: inout [String: JSONValue]) {
        var options = body["stream_options"]?.objectValue ?? [:]
        options["include_usage"] = .bool(true)
        body["stream_options"] = .object(options)
    }
}

/// Random request bodies as clients might write them, and worse: members in any order, duplicates, nesting, escapes,
/// non-ASCII and ill-formed UTF-8 in strings, odd numbers, white space anywhere.
struct RequestBodyGenerator {
    var random: SplitMix64

    init(seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    mutating func roll(_ count: Int) -> Int {
        Int(random.next() % UInt64(count))
    }

    mutating func chance(_ percent: Int) -> Bool {
        roll(100) < percent
    }

    mutating func pick<Element>(_ choices: [Element]) -> Element {
        choices[roll(choices.count)]
    }

    mutating func space() -> [UInt8] {
        guard chance(25) else { return [] }
        return (0..<1 + roll(3)).map { _ in pick([0x20, 0x09, 0x0A, 0x0D]) }
    }

    mutating func string() -> [UInt8] {
        var text: [UInt8] = [UInt8(ascii: "\"")]
        for _ in 0..<roll(10) {
            switch roll(16) {
            case 0: text += Array(pick([#"\""#, #"\\"#, #"\/"#, #"\b"#, #"\f"#, #"\n"#, #"\r"#, #"\t"#]).utf8)
            case 1: text += escape(UInt32(pick([0x00, 0x1F, 0x41, 0x7F, 0xE9, 0x4E2D, 0xFFFD, 0xD7FF, 0xE000, 0xFFFF, 0x0301])))
            case 2:
                let scalar = UInt32(0x10000 + roll(0x100000))
                text += escape(0xD800 + ((scalar - 0x10000) >> 10)) + escape(0xDC00 + ((scalar - 0x10000) & 0x3FF))
            case 3: text += Array(pick(["é", "中", "😀", "e\u{301}", "\u{212A}"]).utf8)
            case 4 where chance(30): text += pick([[0x80], [0xC3], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF0, 0x9F], [0xFF], [0xC0, 0x80]])
            case 5: text += Array(pick(["model", #"\"model\":\"x\""#, "{", "}", "[", ",", ":", "stream_options"]).utf8)
            default: text += Array(pick(["a", "b", "Hello", " ", "42", "-", "'", "~", "messages"]).utf8)
            }
        }
        text.append(UInt8(ascii: "\""))
        return text
    }

    /// A string's decoded value, for the gateway's own inputs.
    mutating func decodedString() throws -> String {
        try #require(try JSONValue.parse(string()).stringValue)
    }

    private func escape(_ code: UInt32) -> [UInt8] {
        let hex = String(code, radix: 16)
        return Array(#"\u"#.utf8) + Array((String(repeating: "0", count: 4 - hex.count) + hex).utf8)
    }

    /// A member name, sometimes with an escaped letter.
    mutating func key(_ name: String) -> [UInt8] {
        guard chance(10), let letter = name.unicodeScalars.first else { return Array(#""\#(name)""#.utf8) }
        return [UInt8(ascii: "\"")] + escape(letter.value) + Array(name.utf8.dropFirst()) + [UInt8(ascii: "\"")]
    }

    mutating func number() -> [UInt8] {
        if chance(50) { return Array(String(roll(2000) - 100).utf8) }
        return Array(
            pick([
                "0", "-0", "0.5", "-3.75", "1e3", "1E-3", "2.5e+2", "9007199254740993", "123456789012345678901234567890", "1e308",
                "-1e308", "10000001", "9999999.9", "1e-400", "0e999", "4096",
            ]).utf8)
    }

    mutating func scalar() -> [UInt8] {
        switch roll(6) {
        case 0: Array("null".utf8)
        case 1: Array(pick(["true", "false"]).utf8)
        case 2, 3: number()
        default: string()
        }
    }

    mutating func value(depth: Int) -> [UInt8] {
        guard depth > 0, chance(40) else { return scalar() }
        if chance(50) { return array((0..<roll(4)).map { _ in value(depth: depth - 1) }) }
        let names = ["model", "a", "text", "content", "role", "include_usage", "stream", "messages"]
        return object((0..<roll(4)).map { _ in (key(pick(names)), value(depth: depth - 1)) })
    }

    mutating func array(_ elements: [[UInt8]]) -> [UInt8] {
        var text: [UInt8] = [UInt8(ascii: "[")] + space()
        for (index, element) in elements.enumerated() {
            if index > 0 { text += space() + [UInt8(ascii: ",")] + space() }
            text += element
        }
        return text + space() + [UInt8(ascii: "]")]
    }

    mutating func object(_ members: [([UInt8], [UInt8])]) -> [UInt8] {
        var text: [UInt8] = [UInt8(ascii: "{")] + space()
        for (index, member) in members.enumerated() {
            if index > 0 { text += space() + [UInt8(ascii: ",")] + space() }
            text += member.0 + space() + [UInt8(ascii: ":")] + space() + member.1
        }
        return text + space() + [UInt8(ascii: "}")]
    }

    mutating func message() -> [UInt8] {
        guard chance(90) else { return value(depth: 1) }
        var members: [([UInt8], [UInt8])] = []
        for _ in 0..<(chance(10) ? 2 : 1) {
            members.append((key("role"), chance(85) ? Array(#""\#(pick(["system", "user", "assistant", "sys\\u0074em"]))""#.utf8) : scalar()))
        }
        for _ in 0..<(chance(10) ? 2 : chance(90) ? 1 : 0) {
            let content: [UInt8]
            switch roll(10) {
            case 0..<5: content = string()
            case 5..<8: content = array((0..<roll(4)).map { _ in part() })
            default: content = value(depth: 2)
            }
            members.append((key("content"), content))
        }
        if chance(20) { members.append((key(pick(["model", "name", "tool_calls"])), value(depth: 2))) }
        return object(shuffled(members))
    }

    mutating func part() -> [UInt8] {
        guard chance(85) else { return value(depth: 1) }
        var members: [([UInt8], [UInt8])] = [(key("type"), Array(#""text""#.utf8))]
        for _ in 0..<(chance(10) ? 2 : chance(90) ? 1 : 0) {
            members.append((key("text"), chance(85) ? string() : value(depth: 1)))
        }
        return object(shuffled(members))
    }

    mutating func body() -> [UInt8] {
        guard chance(97) else { return space() + value(depth: 3) + space() }
        var members: [([UInt8], [UInt8])] = []
        maybe(90, "model", into: &members) { $0.chance(85) ? Array(#""\#($0.pick(["gpt-4o", "m", "claude"]))""#.utf8) : $0.value(depth: 1) }
        maybe(50, "stream", into: &members) { Array($0.pick(["true", "false", "null", "1", #""yes""#]).utf8) }
        maybe(30, "user", into: &members) { $0.chance(80) ? $0.string() : $0.scalar() }
        maybe(40, "stream_options", into: &members) { generator in
            guard generator.chance(80) else { return generator.value(depth: 1) }
            var options: [([UInt8], [UInt8])] = []
            for _ in 0..<generator.roll(3) {
                options.append((generator.key("include_usage"), Array(generator.pick(["true", "false", "null", #""yes""#]).utf8)))
            }
            if generator.chance(30) { options.append((generator.key("other"), generator.scalar())) }
            return generator.object(generator.shuffled(options))
        }
        maybe(90, "messages", into: &members) { generator in
            guard generator.chance(92) else { return generator.scalar() }
            let messages = (0..<generator.roll(5)).map { _ in generator.message() }
            return generator.array(messages)
        }
        maybe(20, "input", into: &members) { $0.chance(60) ? $0.string() : $0.value(depth: 2) }
        maybe(40, "max_tokens", into: &members) { $0.chance(80) ? $0.number() : $0.scalar() }
        maybe(20, "max_completion_tokens", into: &members) { $0.chance(80) ? $0.number() : $0.scalar() }
        for _ in 0..<roll(4) {
            members.append((key(pick(["seed", "temperature", "metadata", "tools", "n", "mod\u{e9}l"])), value(depth: 3)))
        }
        return space() + object(shuffled(members)) + space()
    }

    /// Adds a member named `name` `percent` times in a hundred, now and then twice.
    mutating func maybe(_ percent: Int, _ name: String, into members: inout [([UInt8], [UInt8])], _ make: (inout Self) -> [UInt8]) {
        guard chance(percent) else { return }
        for _ in 0..<(chance(10) ? 2 : 1) { members.append((key(name), make(&self))) }
    }

    mutating func shuffled<Element>(_ elements: [Element]) -> [Element] {
        var elements = elements
        elements.shuffle(using: &random)
        return elements
    }

    /// A body with one to three bytes inserted, replaced or removed, or cut short.
    mutating func mutate(_ body: [UInt8]) -> [UInt8] {
        var body = body
        let interesting = Array(#"{}[]":,\/ 0123456789-+.eEtrufalsnu"#.utf8) + [0x00, 0x09, 0x0A, 0x1F, 0x7F, 0x80, 0xC3, 0xFF]
        for _ in 0..<1 + roll(3) where !body.isEmpty {
            let at = roll(body.count)
            switch roll(10) {
            case 0..<3: body.remove(at: at)
            case 3..<6: body.insert(pick(interesting), at: at)
            case 6..<9: body[at] = pick(interesting)
            default: body.removeSubrange(at...)
            }
        }
        return body
    }
}
