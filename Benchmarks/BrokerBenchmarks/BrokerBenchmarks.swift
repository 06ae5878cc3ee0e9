import Benchmark
import Broker

let benchmarks: @Sendable () -> Void = {
    Benchmark("placeholder") { _ in }
}
