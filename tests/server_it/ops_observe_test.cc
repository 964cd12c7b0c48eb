// Operating the server, black-box (issue 13), part 2: INFO through the
// real redis-cli (--stat included) and the text protocol, /metrics checked
// by promtool and scraped by a real Prometheus. Each test fails when the
// behaviour it names is missing.
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>


#include "gtest/gtest.h"
#include "tests/server_it/it_fixture.h"
#include "tests/server_it/json.h"
#include "tests/server_it/ops_util.h"

namespace it {
namespace {

// ---- 3. INFO, redis-cli INFO and redis-cli --stat --------------------------

class OpsRedisCliTest : public OpsTest {
 protected:
  void SetUp() override {
    // Under Helgrind redis-cli runs natively (ci/helgrind.sh skips it).
    if (access(kRedisCli, X_OK) != 0)
      GTEST_SKIP() << kRedisCli << " not installed (Debian redis-tools; ci/setup.sh)";
  }
};

TEST_F(OpsRedisCliTest, InfoHasTheSectionsInRespAndText) {
  ServerProcess* s = StartServer({"--workers", "2"});
  ASSERT_NE(s, nullptr);
  const std::string port = std::to_string(s->port());
  Client c = Connect(*s);
  ASSERT_EQ(c.Call("HASH abc", Scaled(3000)), std::string("result: ") + kSha256Abc);
  ASSERT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");

  RunResult r = RunProgram({kRedisCli, "-p", port, "INFO"}, Scaled(10000));
  ASSERT_EQ(r.exit_code(), 0) << DescribeStatus(r.status) << r.err;
  std::vector<std::string> bad;
  InfoSections info = ParseInfoLines(Lines(r.out), &bad);
  EXPECT_TRUE(bad.empty()) << "not '# Section' or 'key:value': " << bad[0] << "\n" << r.out;
  for (const char* sec : {"Server", "Clients", "Memory", "Stats", "Pool", "Latency"}) {
    SCOPED_TRACE(sec);
    ASSERT_TRUE(info.count(sec)) << r.out;
    EXPECT_FALSE(info[sec].empty()) << "no key:value lines in # " << sec;
  }
  EXPECT_EQ(info["Server"]["process_id"], std::to_string(s->pid()));
  EXPECT_EQ(info["Server"]["tcp_port"], port);
  EXPECT_EQ(info["Clients"]["connected_clients"], "2");  // c and redis-cli
  EXPECT_EQ(info["Stats"]["submitted"], "1");
  EXPECT_EQ(info["Stats"]["completed"], "1");
  EXPECT_EQ(info["Stats"]["total_connections_received"], "2");
  EXPECT_EQ(info["Pool"]["workers"], "2");
  EXPECT_TRUE(AllDigits(info["Stats"]["total_commands_processed"])) << r.out;
  EXPECT_EQ(info["Latency"]["latency_hash"].rfind("calls=1,p50_us=", 0), 0u) << r.out;

  // One section by name.
  r = RunProgram({kRedisCli, "-p", port, "INFO", "pool"}, Scaled(10000));
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  bad.clear();
  InfoSections pool = ParseInfoLines(Lines(r.out), &bad);
  EXPECT_TRUE(bad.empty()) << r.out;
  ASSERT_EQ(pool.size(), 1u) << r.out;
  EXPECT_EQ(pool.begin()->first, "Pool");
  std::set<std::string> resp_pool_keys, all_pool_keys;
  for (const auto& kv : pool["Pool"]) resp_pool_keys.insert(kv.first);
  for (const auto& kv : info["Pool"]) all_pool_keys.insert(kv.first);
  EXPECT_EQ(resp_pool_keys, all_pool_keys);

  // The text protocol: one "result: " line, the same sections and keys.
  std::string line = c.Call("INFO", Scaled(3000));
  ASSERT_EQ(line.rfind("result: # Server ", 0), 0u) << line;
  EXPECT_EQ(c.buffered(), "") << "more than one line";
  bad.clear();
  InfoSections text = ParseTextInfo(line, &bad);
  EXPECT_TRUE(bad.empty()) << bad[0];
  ASSERT_EQ(text.size(), info.size()) << line;
  for (const auto& sec : info) {
    std::set<std::string> a, b;
    for (const auto& kv : sec.second) a.insert(kv.first);
    for (const auto& kv : text[sec.first]) b.insert(kv.first);
    EXPECT_EQ(a, b) << "# " << sec.first;
  }
  EXPECT_EQ(text["Server"]["process_id"], std::to_string(s->pid()));
}

// redis-cli --stat polls INFO and prints a row per interval: keys, mem,
// clients, blocked, requests, connections. It buffers its output unless it
// writes to a terminal, so it runs on a pseudo-terminal.
TEST_F(OpsRedisCliTest, RedisCliStatPrintsRows) {
  ServerProcess* s = StartServer({"--workers", "2"});
  ASSERT_NE(s, nullptr);
  BackgroundProcess cli;
  std::string why;
  ASSERT_TRUE(cli.Start({kRedisCli, "-p", std::to_string(s->port()), "--stat", "-i", "0.1"},
                        &why, /*stdout_pty=*/true))
      << why;
  // "0          6.96M    1       0       20 (+0)             11": keys, mem,
  // clients, blocked, requests (+ since the last row), connections.
  auto is_row = [](const std::string& l) {
    std::istringstream in(l);
    std::vector<std::string> t;
    for (std::string w; in >> w;) t.push_back(w);
    if (t.size() != 7) return false;
    std::string mem = t[1];
    if (!mem.empty() && std::strchr("BKMGT", mem.back()) != nullptr) mem.pop_back();
    const size_t dot = mem.find('.');
    const bool mem_ok = dot == std::string::npos
                            ? AllDigits(mem)
                            : AllDigits(mem.substr(0, dot)) && AllDigits(mem.substr(dot + 1));
    return AllDigits(t[0]) && mem_ok && AllDigits(t[2]) && AllDigits(t[3]) && AllDigits(t[4]) &&
           t[5].size() > 3 && t[5].compare(0, 2, "(+") == 0 && t[5].back() == ')' &&
           AllDigits(t[5].substr(2, t[5].size() - 3)) && AllDigits(t[6]);
  };
  std::string row;
  bool got = PollUntil(
      [&] {
        for (const std::string& l : Lines(cli.Out()))
          if (is_row(l)) return row = l, true;
        return !cli.running();
      },
      Scaled(10000));
  const std::string out = cli.Out();
  EXPECT_TRUE(cli.running()) << "redis-cli --stat exited: " << DescribeStatus(cli.status())
                             << "\n" << out << cli.Err();
  cli.Stop(SIGTERM, Scaled(5000));
  EXPECT_TRUE(got && !row.empty()) << "no data row:\n" << out << cli.Err();
  EXPECT_NE(out.find("requests"), std::string::npos) << out;  // the header
  EXPECT_EQ(out.find("rror"), std::string::npos) << out;
  EXPECT_EQ(out.find("ERR"), std::string::npos) << out;
}

// ---- 4. /metrics, promtool, Prometheus ---------------------------------------

class OpsMetricsTest : public OpsTest {
 protected:
  // A server with --metrics-port 0; its metrics port in metrics_port_.
  ServerProcess* StartWithMetrics() {
    ServerProcess* s = StartServer({"--workers", "2", "--metrics-port", "0"});
    if (s == nullptr) return nullptr;
    // Logged just after the "listening on" line that Start() waited for.
    EXPECT_TRUE(s->WaitForLog("/metrics\n", Scaled(5000))) << s->Log();
    metrics_port_ = PortAfter(s->Log(), "metrics on http://127.0.0.1:");
    EXPECT_GT(metrics_port_, 0) << s->Log();
    return metrics_port_ > 0 ? s : nullptr;
  }
  int metrics_port_ = -1;
};

TEST_F(OpsMetricsTest, MetricsOverHttpPassPromtool) {
  ServerProcess* s = StartWithMetrics();
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  for (int i = 0; i < 3; i++) ASSERT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");
  ASSERT_EQ(c.Call("HASH abc", Scaled(3000)), std::string("result: ") + kSha256Abc);

  // As Prometheus asks: HTTP/1.1, one request.
  HttpReply r = HttpRaw(metrics_port_,
                        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Accept: text/plain;version=0.0.4\r\n\r\n",
                        Scaled(5000));
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_TRUE(r.closed);
  EXPECT_NE(r.head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << r.head;
  EXPECT_NE(r.head.find("Content-Length: " + std::to_string(r.body.size()) + "\r\n"),
            std::string::npos)
      << r.head;
  for (const char* want :
       {"# TYPE pool_server_requests_total counter\n",
        "pool_server_requests_total{command=\"ping\",outcome=\"ok\"} 3\n",
        "pool_server_requests_total{command=\"hash\",outcome=\"ok\"} 1\n",
        "# TYPE pool_server_connections gauge\npool_server_connections 1\n",
        "pool_server_workers 2\n", "# TYPE pool_server_latency_seconds histogram\n",
        "pool_server_latency_seconds_count{command=\"hash\"} 1\n",
        "pool_server_latency_seconds_bucket{command=\"hash\",le=\"+Inf\"} 1\n"})
    EXPECT_NE(r.body.find(want), std::string::npos) << want << "\n" << r.body;

  if (access(kPromtool, X_OK) != 0) {
    GTEST_SKIP() << kPromtool << " not installed (Debian prometheus; ci/setup.sh installs it)";
  }
  const std::string file = ScratchPath("metrics.txt");
  {
    std::ofstream f(file, std::ios::binary);
    f << r.body;
  }
  RunResult p = RunProgram({kPromtool, "check", "metrics"}, Scaled(30000), file);
  unlink(file.c_str());
  ASSERT_TRUE(p.exited) << "promtool did not finish";
  EXPECT_EQ(p.exit_code(), 0) << DescribeStatus(p.status) << "\n" << p.out << p.err;
  EXPECT_EQ(p.out + p.err, "") << "promtool has lint findings";
}

// Only GET/HEAD /metrics is served; a malformed request is 400 and closed.
TEST_F(OpsMetricsTest, OtherPathsAre404AndMalformedRequests400) {
  ServerProcess* s = StartWithMetrics();
  ASSERT_NE(s, nullptr);
  HttpReply r = HttpGet(metrics_port_, "/", Scaled(5000));
  EXPECT_EQ(r.status, 404) << r.head;
  r = HttpGet(metrics_port_, "/metricsx", Scaled(5000));
  EXPECT_EQ(r.status, 404) << r.head;
  r = HttpGet(metrics_port_, "/metrics?x=1", Scaled(5000));  // a query string is ignored
  EXPECT_EQ(r.status, 200) << r.head;
  r = HttpRaw(metrics_port_, "HEAD /metrics HTTP/1.1\r\n\r\n", Scaled(5000));
  EXPECT_EQ(r.status, 200) << r.head;
  EXPECT_EQ(r.body, "");
  r = HttpRaw(metrics_port_, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", Scaled(5000));
  EXPECT_EQ(r.status, 405) << r.head;
  for (const char* req : {"garbage\r\n\r\n", "GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
                          "GET /metrics SPDY/3\r\n\r\n"}) {
    SCOPED_TRACE(req);
    r = HttpRaw(metrics_port_, req, Scaled(5000));
    EXPECT_EQ(r.status, 400) << r.head;
    EXPECT_TRUE(r.closed) << "not closed after the 400";
  }
  // The server itself is fine.
  Client c = Connect(*s);
  EXPECT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");
}

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) { return remove(path); }

// A real Prometheus scrapes --metrics-port once a second; its query API
// reads back the PINGs this test sent.
TEST_F(OpsMetricsTest, PrometheusScrapesACounter) {
  if (access(kPrometheus, X_OK) != 0)
    GTEST_SKIP() << kPrometheus << " not installed (Debian prometheus; ci/setup.sh installs it)";
  ServerProcess* s = StartWithMetrics();
  ASSERT_NE(s, nullptr);
  const int pings = 7;
  Client c = Connect(*s);
  for (int i = 0; i < pings; i++) ASSERT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");

  const std::string dir = ScratchPath("prometheus");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0) << strerror(errno);
  const std::string config = dir + "/prometheus.yml";
  {
    std::ofstream f(config);
    f << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
         "scrape_configs:\n  - job_name: pool_server\n    static_configs:\n"
         "      - targets: ['127.0.0.1:"
      << metrics_port_ << "']\n";
  }
  BackgroundProcess prom;
  int web_port = -1;
  // A port free a moment ago may be taken by the time Prometheus binds it.
  for (int attempt = 0; attempt < 3; attempt++) {
    web_port = FreePort();
    ASSERT_GT(web_port, 0);
    std::string why;
    ASSERT_TRUE(prom.Start({kPrometheus, "--config.file=" + config,
                            "--storage.tsdb.path=" + dir + "/data",
                            "--web.listen-address=127.0.0.1:" + std::to_string(web_port),
                            "--log.level=warn"},
                           &why))
        << why;
    bool ready = PollUntil(
        [&] { return !prom.running() || HttpGet(web_port, "/-/ready", 2000).status == 200; },
        Scaled(30000));
    if (ready && prom.running()) break;
    std::string err = prom.Err();
    prom.Stop(SIGTERM, Scaled(10000));
    ASSERT_NE(err.find("address already in use"), std::string::npos)
        << "Prometheus did not become ready:\n" << err;
  }
  ASSERT_TRUE(prom.running());

  // Discovery reaches the scrape loop after up to 5 s, then 1 s a scrape.
  const std::string target =
      "/api/v1/query?query=" + UrlEncode("pool_server_requests_total{command=\"ping\"}");
  std::string answer, value;
  bool scraped = PollUntil(
      [&] {
        HttpReply q = HttpGet(web_port, target, 5000);
        answer = q.body;
        Json j;
        std::string err;
        if (q.status != 200 || !ParseJson(q.body, &j, &err)) return false;
        const Json* data = j.Get("data");
        const Json* result = data ? data->Get("result") : nullptr;
        if (!j.Get("status") || !j.Get("status")->IsString("success") || !result ||
            result->type != Json::kArray || result->items.size() != 1)
          return false;
        const Json* v = result->items[0].Get("value");
        if (!v || v->type != Json::kArray || v->items.size() != 2) return false;
        value = v->items[1].text;
        return std::atoi(value.c_str()) >= pings;
      },
      Scaled(60000));
  EXPECT_TRUE(scraped) << "Prometheus answered: " << answer << "\n" << prom.Err();
  EXPECT_EQ(value, std::to_string(pings)) << answer;
  EXPECT_NE(answer.find("\"job\":\"pool_server\""), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"outcome\":\"ok\""), std::string::npos) << answer;

  // Stopped and reaped: SIGTERM is its graceful shutdown (exit 0).
  EXPECT_TRUE(prom.Stop(SIGTERM, Scaled(20000))) << "Prometheus ignored SIGTERM";
  EXPECT_EQ(DescribeStatus(prom.status()), "exit 0") << prom.Err();
  nftw(dir.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

}  // namespace
}  // namespace it
