import Broker

/// One account and region's topics with their subscriptions, read through the library's public API only: what
/// `/_broker/topics` shows and what the SNS metrics sum.
struct TopicListing {
    struct Entry {
        let topic: Topic
        let subscriptions: [SubscriptionEntry]
        var name: String { topic.name }
    }

    struct SubscriptionEntry {
        let info: SubscriptionInfo
        /// Nil while the subscription waits for confirmation: AWS hands out no ARN for it until then.
        let attributes: [String: String]?
        let statistics: DeliveryStatistics?
    }

    /// Every topic of `broker`'s account and region, in ARN order; a topic deleted while it is read is left out.
    static func topics(of broker: Broker) -> [Entry] {
        var arns: [String] = []
        var token: String?
        repeat {
            guard let page = try? broker.listTopics(nextToken: token) else { break }
            arns += page.topicArns
            token = page.nextToken
        } while token != nil
        return arns.compactMap { arn in
            guard let topic = try? broker.topic(arn: arn) else { return nil }
            var infos: [SubscriptionInfo] = []
            var token: String?
            repeat {
                guard let page = try? topic.listSubscriptions(nextToken: token) else { break }
                infos += page.subscriptions
                token = page.nextToken
            } while token != nil
            let subscriptions = infos.map { info in
                let subscription = info.isPendingConfirmation ? nil : try? broker.subscription(arn: info.subscriptionArn)
                return SubscriptionEntry(info: info, attributes: try? subscription?.attributes(),
                                         statistics: try? subscription?.statistics())
            }
            return Entry(topic: topic, subscriptions: subscriptions)
        }
    }
}
