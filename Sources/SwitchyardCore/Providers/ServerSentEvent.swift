/// One server-sent event of a typed stream (Responses API, Anthropic Messages): an `event:` line
/// naming its type, then one `data:` line of JSON.
package struct ServerSentEvent: Sendable, Hashable {
    package var name: String
    package var data: JSONValue

    package init(name: String, data: JSONValue) {
        self.name = name
        self.data = data
    }

    /// The event as it goes on the wire, blank line included.
    package var bytes: [UInt8] {
        var output = Array("event: \(name)\ndata: ".utf8)
        output += data.jsonBytes
        output += [0x0A, 0x0A]
        return output
    }
}
