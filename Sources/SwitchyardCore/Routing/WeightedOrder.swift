/// Orders candidates by weighted random sampling without replacement: the first is drawn with
/// probability proportional to its weight, the next among the rest, and so on (failover order).
package enum WeightedOrder {
    package static func order<Element, R: RandomNumberGenerator>(
        _ items: [Element], weight: (Element) -> Double, using random: inout R
    ) -> [Element] {
        if items.count <= 1 { return items }
        var remaining = items
        var result: [Element] = []
        result.reserveCapacity(items.count)
        while !remaining.isEmpty {
            let total = remaining.reduce(0) { $0 + max(weight($1), 0) }
            var index = remaining.count - 1
            if total > 0 {
                var point = Double.random(in: 0..<total, using: &random)
                for (candidate, item) in remaining.enumerated() {
                    point -= max(weight(item), 0)
                    if point < 0 {
                        index = candidate
                        break
                    }
                }
            }
            result.append(remaining.remove(at: index))
        }
        return result
    }
}
