// The group-commit gate between Core and the journal.
//
// Core reports each submission and each final state (JournalSink); the gate turns them into
// journal rows and, once per event-loop turn, hands the turn's rows to the journal's writer
// thread, which commits every batch waiting for it in one transaction. An answer that reveals
// state waits at the gate (Durable) until everything recorded before it is committed, so
// nothing a client has seen can be lost by a crash. Without a journal the gate is open.
// Every method runs on the planner's io thread.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "common/status.h"
#include "journal/journal.h"
#include "planner/core.h"

namespace boost::asio {
class io_context;
}

namespace volo::planner {

class CommitGate final : public JournalSink {
 public:
  // `journal` may be null (no --data): then every ack runs at once.
  CommitGate(boost::asio::io_context& io, journal::Journal* journal);
  ~CommitGate() override;

  // Runs `ack` once everything recorded so far is durable: at once when nothing is pending,
  // else after the next commit (with its status).
  void Durable(std::function<void(const Status&)> ack);
  // Commits what has been recorded at the end of this event-loop turn.
  void ScheduleCommit();

  // JournalSink
  void OnSubmitted(const Task& t, std::string_view op, std::string_view key,
                   size_t key_count) override;
  void OnFinished(const Task& t, std::string_view worker) override;

 private:
  boost::asio::io_context& io_;
  journal::Journal* journal_;
  std::vector<std::function<void(const Status&)>> pending_acks_;
  bool commit_scheduled_ = false;
  int commits_in_flight_ = 0;
  // Callbacks from the writer thread and posted handlers check this: the gate may be gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace volo::planner
