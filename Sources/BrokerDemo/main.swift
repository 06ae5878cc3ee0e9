import Broker
import BrokerDemoPipeline
import Foundation

// The order pipeline (BrokerDemoPipeline) in a process of its own, on a ScaledClock so visibility timeouts pass in a
// blink; `broker-server --demo` runs the same pipeline on the broker it serves, to watch it in the console.

guard let options = DemoOptions.parse(Array(CommandLine.arguments.dropFirst())) else {
    print(DemoOptions.usage)
    exit(CommandLine.arguments.contains("--help") ? 0 : 2)
}

let clock = ScaledClock(speed: options.speed)
let broker: Broker
if let directory = options.dataDirectory {
    do {
        broker = try OrderPipeline.durableBroker(in: directory, clock: clock)
    } catch {
        FileHandle.standardError.write(Data("broker-demo: cannot open --data-dir \(directory): \(error)\n".utf8))
        exit(1)
    }
} else {
    broker = Broker(clock: clock)
}
let pipeline = OrderPipeline(broker: broker, options: options,
                             output: .table(interactive: isatty(STDOUT_FILENO) == 1), speed: options.speed)
do {
    exit(try await pipeline.run() ? 0 : 1)
} catch {
    FileHandle.standardError.write(Data("broker-demo: \(error)\n".utf8))
    exit(1)
}
