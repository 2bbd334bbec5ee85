/// The changes the gateway makes to a client's request body (the model an upstream knows, a version's parameters and
/// system prompt, usage in streams), spliced into the body's bytes instead of writing a tree, so everything else
/// reaches the upstream byte for byte: a client's `"seed": 9007199254740993` stays exactly that.
///
/// The result parses to the tree that making the same changes, in the same order, to what `JSONValue.parse` gives
/// would produce. A member the rewrite touches appears once in the result: the last of the client's duplicates (the
/// one the gateway read) is edited and earlier ones are removed, so an upstream that keeps the first of duplicate keys
/// sees what the gateway decided too.
package struct RequestBodyRewrite: Sendable {
    package let scan: RequestBodyScan
    /// Top-level members set whole, in the order first set.
    private var assignments: [(key: String, value: JSONValue)] = []
    /// A system prompt for the client's `messages`; `nil` once `messages` is set whole (the prompt is then in there).
    private var systemPrompt: String?
    /// Whether the client's `stream_options` must ask for usage; `false` once it is set whole.
    private var includesUsage = false

    /// A rewrite of the body `scan` describes, which must be an object.
    package init(scan: RequestBodyScan) {
        precondition(scan.isObject, "only an object body can be rewritten")
        self.scan = scan
    }

    /// Whether no change was asked for.
    package var isEmpty: Bool { assignments.isEmpty && systemPrompt == nil && !includesUsage }

    /// Sets the top-level `model`.
    package mutating func setModel(_ name: String) {
        setMember("model", to: .string(name))
    }

    /// Sets a top-level member, as `body[key] = value` does: the value of the client's member is replaced, or the
    /// member is added.
    package mutating func setMember(_ key: String, to value: JSONValue) {
        if let index = assignments.firstIndex(where: { $0.key == key }) {
            assignments[index].value = value
        } else {
            assignments.append((key, value))
        }
        if key == "messages" { systemPrompt = nil }
        if key == "stream_options" { includesUsage = false }
    }

    /// Makes the first message whose role is `system` `{"role":"system","content":prompt}`, or puts that message
    /// first when there is none; when `messages` is missing or not an array it becomes `[that message]`.
    package mutating func setSystemPrompt(_ prompt: String) {
        if let index = assignments.firstIndex(where: { $0.key == "messages" }) {
            assignments[index].value = Self.settingSystemPrompt(prompt, in: assignments[index].value)
        } else {
            systemPrompt = prompt
        }
    }

    /// Sets `stream_options.include_usage` to `true`, keeping the other stream options; a `stream_options` that is
    /// not an object becomes `{"include_usage":true}`.
    package mutating func includeUsageInStream() {
        if let index = assignments.firstIndex(where: { $0.key == "stream_options" }) {
            var options = assignments[index].value.objectValue ?? [:]
            options["include_usage"] = .bool(true)
            assignments[index].value = .object(options)
        } else {
            includesUsage = true
        }
    }

    /// `messages` with a system prompt set, as the gateway sets it in a tree.
    package static func settingSystemPrompt(_ prompt: String, in messages: JSONValue) -> JSONValue {
        var messages = messages.arrayValue ?? []
        let system = JSONValue.object(["role": .string("system"), "content": .string(prompt)])
        if let index = messages.firstIndex(where: { $0["role"]?.stringValue == "system" }) {
            messages[index] = system
        } else {
            messages.insert(system, at: 0)
        }
        return .array(messages)
    }

    /// The rewritten body.
    package func apply(to body: UnsafeRawBufferPointer) -> [UInt8] {
        splice().apply(to: body)
    }

    /// The rewritten body.
    package func apply(to body: [UInt8]) -> [UInt8] {
        splice().apply(to: body)
    }

    /// The edits that make the changes, for the bytes `scan` was made from.
    package func splice() -> JSONSplice {
        var edits = Edits(scan: scan)
        for (key, value) in assignments {
            edits.setMember(key, to: value.jsonBytes)
        }
        if let systemPrompt {
            edits.setSystemPrompt(systemPrompt)
        }
        if includesUsage {
            edits.includeUsageInStream()
        }
        return edits.finish()
    }

    /// Turns changes into splice edits, gathering new top-level members to add in one place.
    private struct Edits {
        let scan: RequestBodyScan
        var splice = JSONSplice()
        var newMembers: [UInt8] = []

        mutating func setMember(_ key: String, to value: [UInt8]) {
            guard let last = keepLastMember(named: key) else { return addMember(key, value) }
            splice.replace(scan.members[last].valueRange, with: value)
        }

        mutating func setSystemPrompt(_ prompt: String) {
            var system = Array(#"{"role":"system","content":"#.utf8)
            JSONValue.string(prompt).write(into: &system)
            system.append(UInt8(ascii: "}"))
            guard let last = keepLastMember(named: "messages") else {
                return addMember("messages", [UInt8(ascii: "[")] + system + [UInt8(ascii: "]")])
            }
            let range = scan.members[last].valueRange
            // `scan.messages` describes the last `messages` when that is an array.
            guard let messages = scan.messages else { return splice.replace(range, with: [UInt8(ascii: "[")] + system + [UInt8(ascii: "]")]) }
            if let existing = messages.first(where: { $0.role == "system" }) {
                splice.replace(existing.range, with: system)
            } else {
                splice.insert(messages.isEmpty ? system : system + [UInt8(ascii: ",")], at: range.lowerBound + 1)
            }
        }

        mutating func includeUsageInStream() {
            let member = Array(#""include_usage":true"#.utf8)
            guard let last = keepLastMember(named: "stream_options") else {
                return addMember("stream_options", [UInt8(ascii: "{")] + member + [UInt8(ascii: "}")])
            }
            // `scan.streamOptions` describes the last `stream_options` when that is an object.
            guard let options = scan.streamOptions else {
                return splice.replace(scan.members[last].valueRange, with: [UInt8(ascii: "{")] + member + [UInt8(ascii: "}")])
            }
            if options.includeUsageRanges.isEmpty {
                splice.insert(options.hasMembers ? [UInt8(ascii: ",")] + member : member, at: options.range.upperBound - 1)
            } else {
                for range in options.includeUsageRanges { splice.replace(range, with: Array("true".utf8)) }
            }
        }

        /// Removes all but the last top-level member named `key` and returns that one's index; `nil` when there is none.
        private mutating func keepLastMember(named key: String) -> Int? {
            let members = scan.members
            guard let last = members.lastIndex(where: { $0.key == key }) else { return nil }
            // An earlier duplicate always has a member after it: it goes up to that member's key.
            for index in members.indices where index < last && members[index].key == key {
                splice.remove(members[index].keyStart..<members[index + 1].keyStart)
            }
            return last
        }

        private mutating func addMember(_ key: String, _ value: [UInt8]) {
            if !scan.members.isEmpty || !newMembers.isEmpty { newMembers.append(UInt8(ascii: ",")) }
            JSONValue.string(key).write(into: &newMembers)
            newMembers.append(UInt8(ascii: ":"))
            newMembers.append(contentsOf: value)
        }

        func finish() -> JSONSplice {
            var splice = splice
            if !newMembers.isEmpty { splice.insert(newMembers, at: scan.objectEnd) }
            return splice
        }
    }
}
