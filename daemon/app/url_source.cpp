// URL sources: env, file and command resolution at check time.
#include "url_source.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "aws/rds_token.hpp"
#include "driftwatch/bounded_read.hpp"
#include "driftwatch/check.hpp"
#include "driftwatch/error.hpp"

namespace driftwatch {

namespace {

constexpr std::size_t kMaxOutputBytes = 1 << 20;

std::string trim(const std::string& text) {
  const char* whitespace = " \t\r\n\f\v";
  const std::size_t begin = text.find_first_not_of(whitespace);
  if (begin == std::string::npos) return "";
  const std::size_t end = text.find_last_not_of(whitespace);
  return text.substr(begin, end - begin + 1);
}

[[noreturn]] void fail(const UrlSource& source, const std::string& what) {
  throw Error(error_reason::kConfig, source.describe() + ": " + what);
}

std::string read_env(const UrlSource& source) {
  const char* value = std::getenv(source.env.c_str());
  if (value == nullptr) fail(source, "environment variable is not set");
  if (*value == '\0') fail(source, "environment variable is empty");
  return value;
}

std::string read_file(const UrlSource& source) {
  std::string text;
  std::string why;
  if (!read_regular_file(source.file, kMaxOutputBytes, text, why))
    fail(source, "cannot read: " + why);
  std::string value = trim(text);
  if (value.empty()) fail(source, "file is empty");
  return value;
}

// Owns a file descriptor; closes it on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

void make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw Error(error_reason::kInternal, std::string("pipe: ") + std::strerror(errno));
  }
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
}

std::string run_command(const UrlSource& source, std::chrono::milliseconds timeout) {
  // Everything the child needs is prepared before fork: after fork only async-signal-safe calls
  // are allowed (the daemon is multi-threaded).
  std::vector<char*> argv;
  for (const std::string& arg : source.command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  Fd out_read, out_write, exec_error_read, exec_error_write;
  make_pipe(out_read, out_write);
  // Carries errno from a failed exec; closed by a successful exec (CLOEXEC), so EOF = started.
  make_pipe(exec_error_read, exec_error_write);

  const pid_t pid = ::fork();
  if (pid < 0) throw Error(error_reason::kInternal, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Own process group, so a timeout kills whatever the command started too.
    ::setpgid(0, 0);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::dup2(out_write.get(), STDOUT_FILENO);  // dup2 clears CLOEXEC on the copy
    ::signal(SIGPIPE, SIG_DFL);
    ::execvp(argv[0], argv.data());
    const int error = errno;
    ssize_t ignored = ::write(exec_error_write.get(), &error, sizeof error);
    (void)ignored;
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent: no race with the kill below
  out_write.reset();
  exec_error_write.reset();

  int exec_errno = 0;
  if (::read(exec_error_read.get(), &exec_errno, sizeof exec_errno) ==
      static_cast<ssize_t>(sizeof exec_errno)) {
    ::waitpid(pid, nullptr, 0);
    fail(source, std::string("cannot execute: ") + std::strerror(exec_errno));
  }

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string output;
  bool timed_out = false;
  bool too_large = false;
  int status = 0;
  bool exited = false;
  char buffer[4096];
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    // Short slices so an exited command whose background children still hold stdout open does
    // not keep us waiting until the deadline.
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    pollfd fd{out_read.get(), POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0) {
      const ssize_t n = ::read(out_read.get(), buffer, sizeof buffer);
      if (n == 0) break;  // EOF: every writer is gone
      if (n > 0) {
        output.append(buffer, static_cast<std::size_t>(n));
        if (output.size() > kMaxOutputBytes) {
          too_large = true;
          break;
        }
      }
      continue;
    }
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      // Take what is already buffered, then stop even if a grandchild keeps the pipe open.
      ::fcntl(out_read.get(), F_SETFL, O_NONBLOCK);
      ssize_t n;
      while ((n = ::read(out_read.get(), buffer, sizeof buffer)) > 0) {
        output.append(buffer, static_cast<std::size_t>(n));
        if (output.size() > kMaxOutputBytes) break;
      }
      too_large = output.size() > kMaxOutputBytes;
      break;
    }
  }
  if (timed_out || too_large) ::kill(-pid, SIGKILL);
  if (!exited) {
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }

  if (timed_out) {
    fail(source, "timed out after " + std::to_string(timeout.count()) + " ms (killed)");
  }
  if (too_large) fail(source, "output larger than 1 MiB");
  if (WIFSIGNALED(status)) {
    fail(source, "terminated by signal " + std::to_string(WTERMSIG(status)));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    fail(source, "exited with status " + std::to_string(WEXITSTATUS(status)));
  }
  std::string value = trim(output);
  if (value.empty()) fail(source, "printed nothing");
  return value;
}

}  // namespace

std::string resolve_url_source(const UrlSource& source, std::chrono::milliseconds timeout) {
  if (!source.env.empty()) return read_env(source);
  if (!source.file.empty()) return read_file(source);
  if (!source.command.empty()) return run_command(source, timeout);
  if (!source.url.empty()) return source.url;
  throw Error(error_reason::kConfig, "no URL source configured");
}

namespace {

std::string quote_conninfo(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

// Keywords given explicitly in a URL or key=value string, in libpq's order.
std::vector<std::pair<std::string, std::string>> conninfo_values(const std::string& url,
                                                                 const UrlSource& source) {
  std::vector<std::pair<std::string, std::string>> values;
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    if (error != nullptr) PQfreemem(error);
    // libpq's message may quote the URL: not repeated.
    throw Error(error_reason::kConfig, source.describe() + ": not a valid PostgreSQL URL");
  }
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val != nullptr) values.emplace_back(option->keyword, option->val);
  }
  PQconninfoFree(options);
  return values;
}

}  // namespace

std::string resolve_connection_url(const UrlSource& source, const DbAuthConfig& auth,
                                   std::chrono::milliseconds timeout) {
  const bool has_source =
      !source.url.empty() || !source.env.empty() || !source.file.empty() || !source.command.empty();
  if (!auth.rds_iam()) return resolve_url_source(source, timeout);
  std::vector<std::pair<std::string, std::string>> values;
  if (has_source) values = conninfo_values(resolve_url_source(source, timeout), source);
  auto get = [&](const std::string& key) {
    for (const auto& [k, v] : values) {
      if (k == key) return v;
    }
    return std::string();
  };
  const std::string host = auth.host.empty() ? get("host") : auth.host;
  const std::string port_text = auth.port != 0 ? std::to_string(auth.port) : get("port");
  const std::string user = auth.user.empty() ? get("user") : auth.user;
  const std::string database = auth.database.empty() ? get("dbname") : auth.database;
  if (host.empty() || host.front() == '/' || host.find(',') != std::string::npos) {
    throw Error(error_reason::kConfig,
                "RDS IAM: one host name is required (from host or the URL), not a socket "
                "directory or a list");
  }
  if (user.empty()) throw Error(error_reason::kConfig, "RDS IAM: no user (set user or the URL's)");
  int port = 5432;
  if (!port_text.empty()) {
    try {
      port = std::stoi(port_text);
    } catch (const std::exception&) {
      throw Error(error_reason::kConfig, "RDS IAM: invalid port " + port_text);
    }
  }
  std::string region = auth.region;
  if (region.empty()) region = aws::region_from_rds_host(host);
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (!region.empty()) break;
    if (const char* value = std::getenv(name); value != nullptr) region = value;
  }
  if (region.empty()) {
    throw Error(error_reason::kConfig, "RDS IAM for " + host +
                                           ": no region (set region, or AWS_REGION, or use the "
                                           "*.REGION.rds.amazonaws.com endpoint name)");
  }
  const std::string token = aws::rds_token_provider().token(
      aws::RdsTokenRequest{host, port, user, region, auth.role_arn});

  std::string conninfo;
  for (const auto& [key, value] : values) {
    // Replaced below; everything else the URL says (connect_timeout, options, ...) stays. A
    // hostaddr (connect to this IP, verify the certificate against host) stays unless host is
    // overridden, since it would then point at another server.
    if (key == "host" || key == "port" || key == "user" || key == "dbname" || key == "password" ||
        key == "passfile" || key == "sslmode" || key == "sslrootcert" ||
        (key == "hostaddr" && !auth.host.empty())) {
      continue;
    }
    conninfo += key + "=" + quote_conninfo(value) + " ";
  }
  conninfo += "host=" + quote_conninfo(host) + " port=" + std::to_string(port) +
              " user=" + quote_conninfo(user);
  if (!database.empty()) conninfo += " dbname=" + quote_conninfo(database);
  conninfo += " sslmode=verify-full";
  if (!auth.ca_bundle.empty()) conninfo += " sslrootcert=" + quote_conninfo(auth.ca_bundle);
  conninfo += " password=" + quote_conninfo(token);
  return conninfo;
}

}  // namespace driftwatch
