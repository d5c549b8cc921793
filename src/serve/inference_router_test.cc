#include "serve/inference_router.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <future>
#include <thread>

namespace drover::serve {
namespace {

// A replica stand-in on 127.0.0.1: answers infer requests with its name, or
// 503 when told to, and can hold requests until released.
class FakeReplica {
 public:
  explicit FakeReplica(std::string name, int status = 200) : name_(std::move(name)), status_(status) {
    server_.Post("/v2/models/m/infer", [this](const httplib::Request&, httplib::Response& res) {
      ++hits_;
      if (hold_) {
        arrived_.set_value();
        release_.get_future().wait();
      }
      res.status = status_;
      res.set_content(R"({"replica":")" + name_ + "\"}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~FakeReplica() {
    if (hold_) release_.set_value();
    server_.stop();
    thread_.join();
  }
  Endpoint endpoint() const { return {name_, "127.0.0.1", port_}; }
  int hits() const { return hits_; }
  //! The next request waits until Release(); returns when it has arrived.
  std::future<void> HoldNext() {
    hold_ = true;
    return arrived_.get_future();
  }
  void Release() {
    hold_ = false;
    release_.set_value();
  }

 private:
  std::string name_;
  int status_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> hits_{0};
  std::atomic<bool> hold_{false};
  std::promise<void> arrived_, release_;
};

// A port nothing listens on: a replica that died.
Endpoint DeadEndpoint() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);  // bound, never listened on, now closed: connecting is refused
  return {"dead", "127.0.0.1", ntohs(addr.sin_port)};
}

const std::string kInfer = "/v2/models/m/infer";

TEST(InferenceRouterTest, UnknownModelsAndPathsAre404) {
  InferenceRouter router;
  EXPECT_EQ(router.Route("POST", "/v2/models/nope/infer", "{}").status, 404);
  EXPECT_NE(router.Route("POST", "/v2/models/nope/infer", "{}").body.find("no model \\\"nope\\\" is deployed"),
            std::string::npos);
  EXPECT_EQ(router.Route("GET", "/api/v1/jobs", "").status, 404);
  EXPECT_EQ(InferenceRouter::ModelOf("/v2/models/fmnist/infer"), "fmnist");
  EXPECT_EQ(InferenceRouter::ModelOf("/v2/models/fmnist"), "fmnist");
  EXPECT_EQ(InferenceRouter::ModelOf("/v2/health/ready"), "");
}

TEST(InferenceRouterTest, SendsEachRequestToTheReplicaWithFewestOutstanding) {
  FakeReplica a("a"), b("b");
  InferenceRouter router;
  router.SetModel("m", {a.endpoint(), b.endpoint()});
  std::future<void> arrived = a.HoldNext();
  std::future<void> arrived_b = b.HoldNext();
  // The first request goes to one of them and is held there.
  auto first = std::async(std::launch::async, [&] { return router.Route("POST", kInfer, "{}"); });
  for (bool done = false; !done;) {
    done = arrived.wait_for(std::chrono::milliseconds(10)) == std::future_status::ready ||
           arrived_b.wait_for(std::chrono::milliseconds(10)) == std::future_status::ready;
  }
  FakeReplica& busy = a.hits() == 1 ? a : b;
  FakeReplica& free = a.hits() == 1 ? b : a;
  free.Release();
  // While it is outstanding, every other request goes to the other replica
  // (round robin would have sent two of these four to the busy one).
  for (int i = 0; i < 4; ++i) EXPECT_EQ(router.Route("POST", kInfer, "{}").status, 200);
  EXPECT_EQ(busy.hits(), 1);
  EXPECT_EQ(free.hits(), 4);
  EXPECT_EQ(router.Load("m").in_flight, 1);
  busy.Release();
  EXPECT_EQ(first.get().status, 200);
  EXPECT_EQ(router.Load("m").in_flight, 0);
  EXPECT_EQ(router.Load("m").answered, 5u);
}

TEST(InferenceRouterTest, ARequestToADeadOrDrainingReplicaIsRetriedOnceOnAnother) {
  FakeReplica live("live"), draining("draining", 503);
  for (const Endpoint& bad : {DeadEndpoint(), draining.endpoint()}) {
    InferenceRouter router;
    router.SetModel("m", {bad, live.endpoint()});
    const int before = live.hits();
    for (int i = 0; i < 9; ++i) EXPECT_EQ(router.Route("POST", kInfer, "{}").status, 200) << bad.id << " " << i;
    EXPECT_EQ(live.hits() - before, 9);
    // The bad replica cost one retry: after it, it was passed over.
    EXPECT_EQ(router.Load("m").retried, 1u) << bad.id;
    EXPECT_EQ(router.Load("m").failed, 0u);
  }

  // Control: a second failure is not retried again; with only bad replicas the caller gets the error.
  InferenceRouter alone(RouterOptions{.max_held = 4, .hold_timeout = std::chrono::milliseconds(200)});
  alone.SetModel("m", {DeadEndpoint(), draining.endpoint()});
  const RoutedAnswer a = alone.Route("POST", kInfer, "{}");
  EXPECT_TRUE(a.status == 503 || a.status == 502) << a.status;
  EXPECT_EQ(alone.Load("m").failed, 1u);
}

TEST(InferenceRouterTest, AModelWithNoReadyReplicaHoldsRequestsUntilOneIs) {
  FakeReplica r("r");
  InferenceRouter router;
  router.SetModel("m", {});
  std::promise<std::string> demanded;
  router.OnDemand([&](const std::string& model) { demanded.set_value(model); });
  auto held = std::async(std::launch::async, [&] { return router.Route("POST", kInfer, "{}"); });
  EXPECT_EQ(demanded.get_future().get(), "m");  // the control plane is told at once
  EXPECT_EQ(router.Load("m").held, 1);
  router.SetModel("m", {r.endpoint()});
  EXPECT_EQ(held.get().status, 200);
  EXPECT_EQ(r.hits(), 1);
  EXPECT_EQ(router.Load("m").held, 0);
}

TEST(InferenceRouterTest, HeldRequestsAreBoundedInNumberAndTime) {
  InferenceRouter router(RouterOptions{.max_held = 1, .hold_timeout = std::chrono::milliseconds(300)});
  router.SetModel("m", {});
  std::promise<void> demanded;
  std::atomic<bool> told{false};
  router.OnDemand([&](const std::string&) {
    if (!told.exchange(true)) demanded.set_value();
  });
  auto first = std::async(std::launch::async, [&] { return router.Route("POST", kInfer, "{}"); });
  demanded.get_future().wait();
  const RoutedAnswer second = router.Route("POST", kInfer, "{}");  // over max_held
  EXPECT_EQ(second.status, 503);
  EXPECT_TRUE(second.retry_after);
  const RoutedAnswer timed_out = first.get();  // nothing became ready within hold_timeout
  EXPECT_EQ(timed_out.status, 503);
  EXPECT_NE(timed_out.body.find("no ready replica"), std::string::npos);
  // Undeploying answers what is held with 404.
  auto third = std::async(std::launch::async, [&] { return router.Route("POST", kInfer, "{}"); });
  while (router.Load("m").held == 0) std::this_thread::yield();
  router.RemoveModel("m");
  EXPECT_EQ(third.get().status, 404);
}

}  // namespace
}  // namespace drover::serve
