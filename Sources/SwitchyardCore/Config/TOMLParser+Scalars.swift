/// Numbers, booleans, dates and times.
extension TOMLParser {
    /// A number, `true`, `false`, `inf` or `nan`: the run of characters that can make one, checked whole.
    mutating func scalar() throws(ConfigurationError) -> TOMLNode {
        let start = index
        while index < bytes.count, Self.isBare(bytes[index]) || bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: ".") {
            index += 1
        }
        let token = bytes[start..<index]
        switch String(decoding: token, as: UTF8.self) {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "inf", "+inf": return .double(.infinity)
        case "-inf": return .double(-.infinity)
        case "nan", "+nan", "-nan": return .double(.nan)
        default: break
        }
        do {
            return try Self.number(token)
        } catch {
            throw self.error(error.reason, at: start)
        }
    }

    struct NumberError: Error {
        var reason: String
    }

    /// Decimal, hexadecimal, octal and binary integers (64-bit) and decimal floats, `_` only between digits.
    static func number(_ token: ArraySlice<UInt8>) throws(NumberError) -> TOMLNode {
        let text = String(decoding: token, as: UTF8.self)
        let quoted = "'\(text.count > 40 ? String(text.prefix(40)) + "…" : text)'"
        if token.count > 2, token.first == UInt8(ascii: "0"), let radix = Self.radix(token[token.startIndex + 1]) {
            let digits = token.dropFirst(2)
            guard groupedDigits(digits, radix: radix) == digits.endIndex, !digits.isEmpty else {
                throw NumberError(reason: "\(quoted) is not a valid number")
            }
            guard let value = Int(String(decoding: digits.filter { $0 != UInt8(ascii: "_") }, as: UTF8.self), radix: radix) else {
                throw NumberError(reason: "\(quoted) is out of the 64-bit integer range")
            }
            return .integer(value)
        }
        var position = token.startIndex
        if position < token.endIndex, token[position] == UInt8(ascii: "+") || token[position] == UInt8(ascii: "-") { position += 1 }
        let integerStart = position
        position = groupedDigits(token[position...], radix: 10)
        guard position > integerStart else { throw NumberError(reason: "\(quoted) is not a valid value") }
        if token[integerStart] == UInt8(ascii: "0"), position > integerStart + 1 {
            throw NumberError(reason: "\(quoted): leading zeros are not allowed")
        }
        var isFloat = false
        if position < token.endIndex, token[position] == UInt8(ascii: ".") {
            let fraction = groupedDigits(token[(position + 1)...], radix: 10)
            guard fraction > position + 1 else { throw NumberError(reason: "\(quoted): a decimal point must have digits on both sides") }
            (position, isFloat) = (fraction, true)
        }
        if position < token.endIndex, token[position] == UInt8(ascii: "e") || token[position] == UInt8(ascii: "E") {
            position += 1
            if position < token.endIndex, token[position] == UInt8(ascii: "+") || token[position] == UInt8(ascii: "-") { position += 1 }
            let exponent = groupedDigits(token[position...], radix: 10)
            guard exponent > position else { throw NumberError(reason: "\(quoted): the exponent needs digits") }
            (position, isFloat) = (exponent, true)
        }
        guard position == token.endIndex else {
            throw NumberError(
                reason: "\(quoted) is not a valid number" + (token.contains(UInt8(ascii: "_")) ? " (underscores go only between digits)" : ""))
        }
        let plain = String(decoding: token.filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
        if isFloat {
            guard let value = Double(plain) else { throw NumberError(reason: "\(quoted) is not a valid number") }
            return .double(value)
        }
        guard let value = Int(plain) else { throw NumberError(reason: "\(quoted) is out of the 64-bit integer range") }
        return .integer(value)
    }

    static func radix(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "x"): 16
        case UInt8(ascii: "o"): 8
        case UInt8(ascii: "b"): 2
        default: nil
        }
    }

    /// Where a run of digits of `radix` with single underscores between them ends (its start if there is none).
    static func groupedDigits(_ text: ArraySlice<UInt8>, radix: Int) -> Int {
        var position = text.startIndex
        var end = position
        while position < text.endIndex {
            if let digit = Hex.value(of: text[position]), Int(digit) < radix {
                position += 1
                end = position
            } else if text[position] == UInt8(ascii: "_"), position > text.startIndex, position == end, position + 1 < text.endIndex,
                let digit = Hex.value(of: text[position + 1]), Int(digit) < radix
            {
                position += 1
            } else {
                break
            }
        }
        return end
    }

    // MARK: Dates and times

    /// `1979-05-27`, `1979-05-27T07:32:00Z`, `1979-05-27 07:32:00.5-07:00`, `07:32:00`: kept as written.
    func isDateOrTime() -> Bool {
        func digits(_ offsets: Range<Int>) -> Bool {
            offsets.allSatisfy { index + $0 < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index + $0]) }
        }
        let dashAt4 = index + 4 < bytes.count && bytes[index + 4] == UInt8(ascii: "-")
        let colonAt2 = index + 2 < bytes.count && bytes[index + 2] == UInt8(ascii: ":")
        return (digits(0..<4) && dashAt4) || (digits(0..<2) && colonAt2)
    }

    mutating func dateOrTime() throws(ConfigurationError) -> TOMLNode {
        let start = index
        if bytes[index + 2] == UInt8(ascii: ":") {
            try time()
            return .other(String(decoding: bytes[start..<index], as: UTF8.self))
        }
        let year = try field(4, in: 0...9999, "year")
        try expect(UInt8(ascii: "-"), "date")
        let month = try field(2, in: 1...12, "month")
        try expect(UInt8(ascii: "-"), "date")
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        _ = try field(2, in: 1...days, "day")
        guard year >= 1 else { throw error("year 0000 is not a valid date", at: start) }
        if index < bytes.count,
            bytes[index] == UInt8(ascii: "T") || bytes[index] == UInt8(ascii: "t")
                || (bytes[index] == UInt8(ascii: " ") && index + 1 < bytes.count
                    && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index + 1]))
        {
            index += 1
            try time()
            if index < bytes.count, bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z") {
                index += 1
            } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
                _ = try field(2, in: 0...23, "offset hour")
                try expect(UInt8(ascii: ":"), "offset")
                _ = try field(2, in: 0...59, "offset minute")
            }
        }
        return .other(String(decoding: bytes[start..<index], as: UTF8.self))
    }

    /// `HH:MM:SS` with an optional fraction of a second.
    mutating func time() throws(ConfigurationError) {
        _ = try field(2, in: 0...23, "hour")
        try expect(UInt8(ascii: ":"), "time")
        _ = try field(2, in: 0...59, "minute")
        try expect(UInt8(ascii: ":"), "time (seconds are required)")
        _ = try field(2, in: 0...59, "second")
        guard index < bytes.count, bytes[index] == UInt8(ascii: ".") else { return }
        index += 1
        let start = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        guard index > start else { throw unexpected("digits after the decimal point of the seconds") }
    }

    mutating func field(_ width: Int, in range: ClosedRange<Int>, _ name: String) throws(ConfigurationError) -> Int {
        var value = 0
        for _ in 0..<width {
            guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else {
                throw unexpected("a \(width)-digit \(name)")
            }
            value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        guard range.contains(value) else { throw error("\(name) \(value) is out of range", at: index - width) }
        return value
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(ConfigurationError) {
        guard index < bytes.count, bytes[index] == byte else { throw unexpected("'\(Character(Unicode.Scalar(byte)))' in the \(what)") }
        index += 1
    }
}
