/// Deleting settled messages from the consumed queue in batches of 10, reporting each entry that fails.
extension ConsumerRuntime {
    /// Entry ids of one DeleteMessageBatch call, made once.
    private static let entryIds = (0..<Machine.deleteBatchSize).map { "m\($0)" }

    /// Deletes messages the pool settled and reports each one deleted as processed.
    func deleteSettled(_ deletes: [PendingDelete]) {
        let deleted = deleteIndices(deletes)
        emit(deleted, as: { .processed(messageId: deletes[$0].messageId) }) { $0.processed += deleted.count }
    }

    /// As ``deleteSettled(_:)``, suspending the task rather than blocking its thread while a durable broker's
    /// records reach the disk; a message is reported processed only once its delete is durable.
    func settleDeletes(_ deletes: [PendingDelete]) async {
        guard queue.core.durable?.store.callsWait == true else { return deleteSettled(deletes) }
        do throws(BrokerError) {
            let deleted = try await DurableDeferral.run { deleteIndices(deletes) }
            emit(deleted, as: { .processed(messageId: deletes[$0].messageId) }) { $0.processed += deleted.count }
        } catch {
            // The deletes did not reach the disk: the messages come back after a restart, so none is processed.
            for delete in deletes {
                emit(.deleteFailed(messageId: delete.messageId, error: error.description)) { $0.deleteFailures += 1 }
            }
        }
    }

    /// Deletes the messages; returns the ids deleted.
    func delete(_ deletes: [PendingDelete]) -> Set<String> {
        Set(deleteIndices(deletes).map { deletes[$0].messageId })
    }

    /// Deletes the messages; returns the positions in `deletes` of those deleted, in order.
    func deleteIndices(_ deletes: [PendingDelete]) -> [Int] {
        var deleted: [Int] = []
        deleted.reserveCapacity(deletes.count)
        let batchSize = Machine.deleteBatchSize
        var start = 0
        while start < deletes.count {
            let chunk = start..<min(deletes.count, start + batchSize)
            start += batchSize
            let requests = chunk.map {
                DeleteMessageBatchRequestEntry(id: Self.entryIds[$0 - chunk.lowerBound], receiptHandle: deletes[$0].receiptHandle)
            }
            do throws(BrokerError) {
                let result = try queue.deleteMessageBatch(requests)
                for index in chunk {
                    if !result.failed.isEmpty, let failure = result.failure(for: Self.entryIds[index - chunk.lowerBound]) {
                        emit(.deleteFailed(messageId: deletes[index].messageId, error: failure.message)) { $0.deleteFailures += 1 }
                    } else {
                        deleted.append(index)
                    }
                }
            } catch {
                for index in chunk {
                    emit(.deleteFailed(messageId: deletes[index].messageId, error: error.description)) { $0.deleteFailures += 1 }
                }
            }
        }
        return deleted
    }
}
