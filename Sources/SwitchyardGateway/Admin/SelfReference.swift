import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Where the gateway listens, known once the server is bound; providers whose base URL leads back
/// here are refused, since every request to them would come round again.
package final class ListeningAddress: Sendable {
    private let bound: Mutex<(host: String, port: Int)?> = Mutex(nil)

    package init() {}

    package func set(host: String, port: Int) {
        bound.withLock { $0 = (host, port) }
    }

    /// Whether `baseURL` names this gateway: its port, and a host that resolves to the listening
    /// address (any address of this machine when listening on all of them).
    package func isGateway(_ baseURL: String) async -> Bool {
        guard let (host, port) = bound.withLock({ $0 }), let origin = UpstreamOrigin(baseURL: baseURL), origin.port == port else {
            return false
        }
        let targets = await Self.resolve(origin.host)
        let wildcard = host == "0.0.0.0" || host == "::" || host.isEmpty
        let listening = wildcard ? Self.machineAddresses() : Set(await Self.resolve(host))
        return targets.contains { target in
            listening.contains(target) || (Self.isLoopback(target) && (wildcard || listening.contains(where: Self.isLoopback)))
        }
    }

    /// The numeric addresses a host name resolves to, looked up off the event loops.
    private static func resolve(_ host: String) async -> [String] {
        (try? await NIOThreadPool.singleton.runIfActive { addresses(of: host) }) ?? []
    }

    private static func addresses(of host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(list) }
        var result: [String] = []
        for entry in sequence(first: first, next: { $0.pointee.ai_next }) {
            if let address = entry.pointee.ai_addr, let text = numericText(address) { result.append(text) }
        }
        return result
    }

    /// Every address of this machine's interfaces.
    private static func machineAddresses() -> Set<String> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var result: Set<String> = []
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            if let address = entry.pointee.ifa_addr, let text = numericText(address) { result.insert(text) }
        }
        return result
    }

    private static func numericText(_ address: UnsafeMutablePointer<sockaddr>) -> String? {
        let family = Int32(address.pointee.sa_family)
        guard family == AF_INET || family == AF_INET6 else { return nil }
        let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(address, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func isLoopback(_ address: String) -> Bool {
        address.hasPrefix("127.") || address == "::1" || address.hasPrefix("::ffff:127.")
    }
}
