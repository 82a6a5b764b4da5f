// For the fake peers (fakes.h, seed_peers.h): each serves on an io_context run by a thread of its
// own; the test's thread hands work to that thread with RunOn.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>

namespace volo::itest {

// Runs `fn` on `io`'s thread and waits for it.
template <typename Fn>
void RunOn(boost::asio::io_context& io, Fn fn) {
  std::promise<void> done;
  boost::asio::post(io, [&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

// The body of the io thread: runs `io` until it is stopped (not when it runs out of work).
inline void RunIo(boost::asio::io_context& io) {
  auto guard = boost::asio::make_work_guard(io);
  io.run();
}

}  // namespace volo::itest
