#include "planner/commit_gate.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace volo::planner {
namespace asio = boost::asio;

CommitGate::CommitGate(asio::io_context& io, journal::Journal* journal)
    : io_(io), journal_(journal) {}

CommitGate::~CommitGate() { *alive_ = false; }

void CommitGate::Durable(std::function<void(const Status&)> ack) {
  if (!journal_ || (!journal_->has_pending() && commits_in_flight_ == 0 && pending_acks_.empty())) {
    ack(Status::Ok());
    return;
  }
  pending_acks_.push_back(std::move(ack));
  ScheduleCommit();
}

void CommitGate::ScheduleCommit() {
  if (!journal_ || commit_scheduled_) return;
  commit_scheduled_ = true;
  asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    commit_scheduled_ = false;
    auto acks = std::move(pending_acks_);
    pending_acks_.clear();
    if (!journal_->has_pending() && acks.empty()) return;
    ++commits_in_flight_;
    journal_->Commit([this, alive, acks = std::move(acks)](const Status& s) mutable {
      if (!s.ok()) spdlog::error("journal: {}", s.message());
      // Back to the planner's thread for the replies.
      asio::post(io_, [this, alive, acks = std::move(acks), s] {
        if (!*alive) return;
        --commits_in_flight_;
        for (auto& ack : acks) ack(s);
      });
    });
  });
}

void CommitGate::OnSubmitted(const Task& t, std::string_view op, std::string_view key,
                             size_t key_count) {
  journal_->Submitted(SubmittedRecord(t, op, key, key_count));
  ScheduleCommit();
}

void CommitGate::OnFinished(const Task& t, std::string_view worker) {
  journal_->Finished(FinishedRecord(t, worker));
  ScheduleCommit();
}

}  // namespace volo::planner
