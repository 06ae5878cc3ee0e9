/// Page tokens over an ordered list, as SNS's list calls use them: the offset of the next page, in decimal. Opaque
/// to clients all the same; decimal because some clients' tests read the token as a number.
enum Paging {
    static func page<T>(_ items: [T], size: Int, nextToken: String?) throws(BrokerError) -> (items: [T], nextToken: String?) {
        var start = 0
        if let nextToken {
            guard let offset = Int(nextToken), offset >= 0, offset <= items.count else {
                throw BrokerError(.invalidParameter, "Invalid parameter: NextToken")
            }
            start = offset
        }
        let end = min(items.count, start + size)
        return (Array(items[start..<end]), end < items.count ? String(end) : nil)
    }
}
