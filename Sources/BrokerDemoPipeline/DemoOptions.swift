/// How the order pipeline runs: how many orders, how many of them bad, FIFO or standard, and how fast time passes.
public struct DemoOptions: Sendable {
    /// Orders to place, 1–10,000.
    public var orders = 40
    /// Share of orders whose payment data is bad (an amount as text), 0–1.
    public var failureRate = 0.1
    /// A FIFO topic and FIFO queues (ordered per order, deduplicated) instead of standard ones.
    public var fifo = false
    /// Broker seconds per real second: the pipeline's clock runs this much faster than the wall's.
    public var speed = 20.0
    /// A directory that keeps the broker's journal, the orders placed and the charges made, so a run killed at any
    /// point and run again finishes the same pipeline with every order charged once. Nil: everything in memory.
    public var dataDirectory: String?

    /// The defaults: 40 orders, 10% bad, standard queues, ×20, in memory.
    public init(orders: Int = 40, failureRate: Double = 0.1, fifo: Bool = false, speed: Double = 20,
                dataDirectory: String? = nil) {
        self.orders = orders
        self.failureRate = failureRate
        self.fifo = fifo
        self.speed = speed
        self.dataDirectory = dataDirectory
    }

    /// `broker-demo`'s command line.
    public static let usage = """
        usage: broker-demo [--orders N] [--failure-rate R] [--fifo] [--speed X] [--data-dir PATH]
          --orders N        orders to place (1–10000, default 40)
          --failure-rate R  share of orders with bad payment data (0–1, default 0.1)
          --fifo            use a FIFO topic and FIFO queues (ordered per order, deduplicated)
          --speed X         broker seconds per real second (1–1000, default 20)
          --data-dir PATH   keep the queues, the orders placed and the charges in PATH (created if missing):
                            a run killed at any point and started again finishes with every order charged once
        """

    /// The options of `arguments` (without the program's name); nil when one is unknown or out of range.
    public static func parse(_ arguments: [String]) -> DemoOptions? {
        var options = DemoOptions()
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            switch flag {
            case "--fifo": options.fifo = true
            case "--orders":
                guard let value = rest.popFirst().flatMap(Int.init), (1...10_000).contains(value) else { return nil }
                options.orders = value
            case "--failure-rate":
                guard let value = rest.popFirst().flatMap(Double.init), (0...1).contains(value) else { return nil }
                options.failureRate = value
            case "--speed":
                guard let value = rest.popFirst().flatMap(Double.init), (1...1_000).contains(value) else { return nil }
                options.speed = value
            case "--data-dir":
                guard let value = rest.popFirst(), !value.isEmpty else { return nil }
                options.dataDirectory = value
            default: return nil
            }
        }
        return options
    }
}
