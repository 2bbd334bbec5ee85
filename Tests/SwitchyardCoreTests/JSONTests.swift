import Foundation
import Testing

@testable import SwitchyardCore

@Suite struct JSONTests {
    @Test(arguments: [
        (" {\"id\": 1}\n", true), ("{}", true), ("<html><body>Sign in</body></html>", false), ("[{\"id\": 1}]", false),
        ("{\"id\": 1", false), ("", false), ("  ", false), ("{", false), ("}", false), ("Internal error", false),
    ])
    func answersAreTellFromPagesByTheirEnds(text: String, bracketed: Bool) {
        #expect(Array(text.utf8).withUnsafeBytes { JSONValueKind.isBracketedObject($0) } == bracketed)
    }

    @Test(arguments: [
        #"{"model":"gpt","messages":[{"role":"user","content":"hi"}],"temperature":0.7,"n":1,"stream":true,"stop":null}"#,
        #"[1,-2.5,3e2,1E-3,0,-0,true,false,null,"",{}, []]"#,
        #""\"\\\/\b\f\n\r\t\u00e9\u4e2d\ud83d\ude00""#,
        #"  {"nested": {"deep": [[[{"x": "y"}]]]}}  "#,
    ])
    func parsingAgreesWithFoundation(text: String) throws {
        let ours = try JSONValue.parse(Array(text.utf8))
        let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(ours == foundation)
        #expect(try JSONValue.parse(ours.jsonBytes) == ours, "writing then reading gives the same value")
    }

    @Test func writtenStringsEscapeWhatJSONRequires() throws {
        let value = JSONValue.string("quote\" backslash\\ newline\n tab\t bell\u{07} é 😀")
        let text = String(decoding: value.jsonBytes, as: UTF8.self)
        #expect(text == #""quote\" backslash\\ newline\n tab\t bell\u0007 é 😀""#)
        let back = try JSONSerialization.jsonObject(with: Data(value.jsonBytes), options: .fragmentsAllowed) as? String
        #expect(back == "quote\" backslash\\ newline\n tab\t bell\u{07} é 😀")
    }

    @Test func integersAreWrittenWithoutAFraction() {
        #expect(String(decoding: JSONValue.number(42).jsonBytes, as: UTF8.self) == "42")
        #expect(String(decoding: JSONValue.number(0.25).jsonBytes, as: UTF8.self) == "0.25")
        #expect(String(decoding: JSONValue.number(.infinity).jsonBytes, as: UTF8.self) == "null")
        for integer in [0, -0.0, 7, -7, 10, 1_800_000_000, -9_007_199_254_740_991, 9_007_199_254_740_991] {
            #expect(String(decoding: JSONValue.number(integer).jsonBytes, as: UTF8.self) == String(Int64(integer)), "\(integer)")
        }
    }

    @Test(arguments: [
        "", "{", "{\"a\"}", "{\"a\":1,}", "[1,]", "01", "1.", "-", "tru", "nul", "\"unterminated", "\"bad \\x escape\"",
        "\"\\ud800\"", "{} x", "\"tab\tinside\"", "1e999", "{'single': 1}",
    ])
    func malformedInputIsRejected(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func deepNestingIsRejectedWithoutExhaustingTheStack() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect((try? JSONValue.parse(Array(fine.utf8))) != nil)
    }
}
