// The AWS default credentials chain, STS calls and the credentials cache.
#include "aws/credentials.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "aws/http.hpp"
#include "driftwatch/check.hpp"
#include "driftwatch/error.hpp"

namespace driftwatch::aws {

namespace {

using Clock = std::chrono::system_clock;

constexpr std::chrono::milliseconds kStsTimeout{10000};

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

std::string trim(const std::string& text) {
  const char* whitespace = " \t\r\n\f\v";
  const std::size_t begin = text.find_first_not_of(whitespace);
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(whitespace) - begin + 1);
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Reads a whole file; nullopt when it cannot be opened.
std::optional<std::string> read_file(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) return std::nullopt;
  std::ostringstream buffer;
  buffer << stream.rdbuf();
  return buffer.str();
}

// A configured source failed: the chain stops here, as the AWS SDKs do.
[[noreturn]] void fail(const std::string& source, const std::string& why) {
  throw Error(error_reason::kAuth, "AWS credentials from " + source + ": " + why);
}

std::chrono::milliseconds metadata_timeout() {
  const std::string text = env("AWS_METADATA_SERVICE_TIMEOUT");
  if (!text.empty()) {
    try {
      const double seconds = std::stod(text);
      if (seconds > 0 && seconds < 3600) {
        return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
      }
    } catch (const std::exception&) {
    }
  }
  return std::chrono::milliseconds(1000);
}

std::string xml_unescape(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    static const std::pair<const char*, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool matched = false;
    for (const auto& [entity, c] : kEntities) {
      const std::string name(entity);
      if (text.compare(i, name.size(), name) == 0) {
        out += c;
        i += name.size() - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out += '&';
  }
  return out;
}

// Text of the first <tag>...</tag> inside `xml`, or nullopt.
std::optional<std::string> xml_element(const std::string& xml, const std::string& tag) {
  const std::string open = "<" + tag + ">";
  const std::size_t begin = xml.find(open);
  if (begin == std::string::npos) return std::nullopt;
  const std::size_t end = xml.find("</" + tag + ">", begin + open.size());
  if (end == std::string::npos) return std::nullopt;
  return xml_unescape(trim(xml.substr(begin + open.size(), end - begin - open.size())));
}

std::string form_encode(const QueryParams& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += uri_encode(name) + "=" + uri_encode(value);
  }
  return out;
}

std::string sts_region(const std::string& region) {
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    std::string value = env(name);
    if (!value.empty()) return value;
  }
  return region;
}

std::string sts_endpoint(const std::string& region) {
  for (const char* name : {"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"}) {
    std::string value = env(name);
    if (!value.empty()) return value;
  }
  if (region.empty()) return "https://sts.amazonaws.com";
  // The China partition has its own domain.
  const char* domain = region.rfind("cn-", 0) == 0 ? ".amazonaws.com.cn" : ".amazonaws.com";
  return "https://sts." + region + domain;
}

std::string session_name() {
  std::string configured = env("AWS_ROLE_SESSION_NAME");
  if (!configured.empty()) return configured;
  return "driftwatch-" + std::to_string(std::time(nullptr));
}

// POSTs an STS query API call; `credentials` null = unsigned (AssumeRoleWithWebIdentity).
Credentials call_sts(const std::string& source, const QueryParams& params,
                     const Credentials* credentials, const std::string& region_hint) {
  const std::string region = sts_region(region_hint);
  const std::string endpoint = sts_endpoint(region);
  const UrlParts url = split_url(endpoint);
  if (url.scheme.empty()) fail(source, "invalid STS endpoint " + endpoint);
  HttpRequest http;
  http.method = "POST";
  http.url = endpoint;
  http.body = form_encode(params);
  http.timeout = kStsTimeout;
  http.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                  {"Host", url.authority}};
  if (credentials != nullptr) {
    Request request;
    request.method = "POST";
    request.path = url.path.substr(0, url.path.find('?'));
    request.headers = http.headers;
    request.payload = http.body;
    sign_headers(request, *credentials, Scope{region.empty() ? "us-east-1" : region, "sts"},
                 Clock::now());
    http.headers = request.headers;
  }
  HttpResponse response;
  try {
    response = http_request(http);
  } catch (const std::exception& e) {
    fail(source, "STS " + endpoint + ": " + e.what());
  }
  try {
    Credentials result = parse_sts_answer(response.body);
    if (response.status != 200) {
      fail(source, "STS " + endpoint + " answered HTTP " + std::to_string(response.status));
    }
    result.source = source;
    return result;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(source,
         "STS " + endpoint + " (HTTP " + std::to_string(response.status) + "): " + e.what());
  }
}

Credentials assume_role_with_web_identity(const std::string& source, const std::string& token_file,
                                          const std::string& role_arn, const std::string& region) {
  const auto token = read_file(token_file);
  if (!token) fail(source, "cannot read web identity token file " + token_file);
  if (trim(*token).empty()) fail(source, "web identity token file " + token_file + " is empty");
  return call_sts(source,
                  {{"Action", "AssumeRoleWithWebIdentity"},
                   {"Version", "2011-06-15"},
                   {"RoleArn", role_arn},
                   {"RoleSessionName", session_name()},
                   {"WebIdentityToken", trim(*token)}},
                  nullptr, region);
}

// Why a source was not used, collected for the "no credentials" message.
struct Skipped {
  std::vector<std::string> reasons;
  void add(const std::string& source, const std::string& why) {
    reasons.push_back(source + ": " + why);
  }
  std::string join() const {
    std::string out;
    for (const std::string& reason : reasons) out += (out.empty() ? "" : "; ") + reason;
    return out;
  }
};

std::optional<Credentials> from_environment(Skipped& skipped) {
  const std::string key = env("AWS_ACCESS_KEY_ID");
  const std::string secret = env("AWS_SECRET_ACCESS_KEY");
  if (key.empty() && secret.empty()) {
    skipped.add("environment", "AWS_ACCESS_KEY_ID not set");
    return std::nullopt;
  }
  if (key.empty()) fail("environment", "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  if (secret.empty()) {
    fail("environment", "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  }
  Credentials credentials{key, secret, env("AWS_SESSION_TOKEN"), std::nullopt, "environment"};
  return credentials;
}

std::optional<Credentials> from_web_identity_env(const std::string& region, Skipped& skipped) {
  const std::string token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
  const std::string role_arn = env("AWS_ROLE_ARN");
  if (token_file.empty() || role_arn.empty()) {
    skipped.add("web identity", token_file.empty() ? "AWS_WEB_IDENTITY_TOKEN_FILE not set"
                                                   : "AWS_ROLE_ARN not set");
    return std::nullopt;
  }
  return assume_role_with_web_identity("web identity (role " + role_arn + ")", token_file, role_arn,
                                       region);
}

bool container_host_allowed(const std::string& host) {
  // As the AWS SDKs: plain http only to loopback or the ECS / EKS Pod Identity agent addresses.
  static const std::set<std::string> kAgents = {"169.254.170.2", "169.254.170.23", "fd00:ec2::23",
                                                "localhost", "::1"};
  return kAgents.count(lower(host)) > 0 || host.rfind("127.", 0) == 0;
}

std::optional<Credentials> from_container(Skipped& skipped) {
  std::string uri;
  const std::string relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  if (!relative.empty()) {
    uri = "http://169.254.170.2" + relative;
  } else {
    uri = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  }
  if (uri.empty()) {
    skipped.add("container endpoint", "AWS_CONTAINER_CREDENTIALS_FULL_URI not set");
    return std::nullopt;
  }
  const UrlParts url = split_url(uri);
  const std::string source = "container endpoint " + url.scheme + "://" + url.authority;
  if (url.scheme != "http" && url.scheme != "https") fail(source, "not an http(s) URL");
  if (url.scheme == "http" && !container_host_allowed(url.host)) {
    fail(source, "plain http is only allowed to loopback or the ECS/EKS agent addresses");
  }
  HttpRequest http;
  http.url = uri;
  http.timeout = metadata_timeout();
  std::string authorization;
  const std::string token_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  if (!token_file.empty()) {
    const auto token = read_file(token_file);
    if (!token) fail(source, "cannot read authorization token file " + token_file);
    authorization = trim(*token);
    if (authorization.empty()) fail(source, "authorization token file " + token_file + " is empty");
  } else {
    authorization = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  }
  if (authorization.find_first_of("\r\n") != std::string::npos) {
    fail(source, "authorization token contains a line break");
  }
  if (!authorization.empty()) http.headers.emplace_back("Authorization", authorization);
  HttpResponse response;
  try {
    response = http_request(http);
  } catch (const std::exception& e) {
    fail(source, e.what());
  }
  if (response.status != 200) {
    fail(source,
         "answered HTTP " + std::to_string(response.status) +
             (response.status == 401 || response.status == 403 ? " (authorization token rejected)"
                                                               : ""));
  }
  try {
    Credentials credentials = parse_credentials_json(response.body);
    credentials.source = source;
    return credentials;
  } catch (const std::exception& e) {
    fail(source, e.what());
  }
}

std::optional<Credentials> from_instance_metadata(Skipped& skipped) {
  if (lower(env("AWS_EC2_METADATA_DISABLED")) == "true") {
    skipped.add("instance metadata", "AWS_EC2_METADATA_DISABLED=true");
    return std::nullopt;
  }
  std::string endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (endpoint.empty()) endpoint = "http://169.254.169.254";
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const std::string source = "instance metadata " + endpoint;
  const auto timeout = metadata_timeout();

  HttpRequest token_request;
  token_request.method = "PUT";
  token_request.url = endpoint + "/latest/api/token";
  token_request.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
  token_request.timeout = timeout;
  HttpResponse token;
  try {
    token = http_request(token_request);
  } catch (const std::exception& e) {
    // Not on EC2 (or no route to the metadata service): the chain is exhausted, not broken.
    skipped.add(source, std::string("no answer to the IMDSv2 token request (") + e.what() + ")");
    return std::nullopt;
  }
  if (token.status != 200 || trim(token.body).empty()) {
    fail(source, "IMDSv2 token request answered HTTP " + std::to_string(token.status));
  }
  const std::string session_token = trim(token.body);
  auto get = [&](const std::string& path) {
    HttpRequest request;
    request.url = endpoint + path;
    request.headers = {{"X-aws-ec2-metadata-token", session_token}};
    request.timeout = timeout;
    HttpResponse response;
    try {
      response = http_request(request);
    } catch (const std::exception& e) {
      fail(source, "GET " + path + ": " + e.what());
    }
    if (response.status == 404) fail(source, "no IAM role is attached to this instance");
    if (response.status != 200) {
      fail(source, "GET " + path + " answered HTTP " + std::to_string(response.status) +
                       (response.status == 401 ? " (metadata token rejected)" : ""));
    }
    return response.body;
  };
  const std::string base = "/latest/meta-data/iam/security-credentials/";
  std::string role = trim(get(base));
  role = role.substr(0, role.find('\n'));
  if (role.empty()) fail(source, "no IAM role is attached to this instance");
  if (role.find_first_of("/?#% ") != std::string::npos) fail(source, "malformed role name");
  try {
    Credentials credentials = parse_credentials_json(get(base + role));
    credentials.source = source + " (role " + role + ")";
    return credentials;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(source, e.what());
  }
}

// ---- shared credentials / config files ----

struct Profiles {
  std::string credentials_path;
  std::string config_path;
  IniFile credentials;
  IniFile config;
  bool any_file = false;

  // The merged keys of one profile (credentials file wins); nullopt if neither file has it.
  std::optional<std::map<std::string, std::string>> find(const std::string& name) const {
    std::optional<std::map<std::string, std::string>> out;
    const auto config_it = config.find(name == "default" ? "default" : "profile " + name);
    if (config_it != config.end()) out = config_it->second;
    if (name == "default" && !out) {
      if (auto it = config.find("profile default"); it != config.end()) out = it->second;
    }
    if (auto it = credentials.find(name); it != credentials.end()) {
      if (!out) out.emplace();
      for (const auto& [key, value] : it->second) (*out)[key] = value;
    }
    return out;
  }
};

Profiles load_profiles() {
  Profiles profiles;
  const std::string home = env("HOME");
  profiles.credentials_path = env("AWS_SHARED_CREDENTIALS_FILE");
  if (profiles.credentials_path.empty()) profiles.credentials_path = home + "/.aws/credentials";
  profiles.config_path = env("AWS_CONFIG_FILE");
  if (profiles.config_path.empty()) profiles.config_path = home + "/.aws/config";
  if (auto text = read_file(profiles.credentials_path)) {
    profiles.credentials = parse_ini(*text);
    profiles.any_file = true;
  }
  if (auto text = read_file(profiles.config_path)) {
    profiles.config = parse_ini(*text);
    profiles.any_file = true;
  }
  return profiles;
}

std::string get_key(const std::map<std::string, std::string>& keys, const std::string& name) {
  const auto it = keys.find(name);
  return it == keys.end() ? "" : it->second;
}

Credentials profile_credentials(const Profiles& profiles, const std::string& name,
                                const std::string& region, std::set<std::string>& visiting);

Credentials credential_source(const std::string& source, const std::string& name,
                              const std::string& region) {
  Skipped ignored;
  std::optional<Credentials> credentials;
  if (name == "Environment") {
    credentials = from_environment(ignored);
  } else if (name == "EcsContainer") {
    credentials = from_container(ignored);
  } else if (name == "Ec2InstanceMetadata") {
    credentials = from_instance_metadata(ignored);
  } else {
    fail(source, "unknown credential_source \"" + name +
                     "\" (expected Environment, EcsContainer or Ec2InstanceMetadata)");
  }
  (void)region;
  if (!credentials)
    fail(source, "credential_source " + name + " has no credentials: " + ignored.join());
  return *credentials;
}

Credentials profile_credentials(const Profiles& profiles, const std::string& name,
                                const std::string& region, std::set<std::string>& visiting) {
  const std::string source = "profile " + name;
  const auto keys = profiles.find(name);
  if (!keys) {
    fail(source, "not found in " + profiles.credentials_path + " or " + profiles.config_path);
  }
  const std::string profile_region =
      get_key(*keys, "region").empty() ? region : get_key(*keys, "region");
  const std::string role_arn = get_key(*keys, "role_arn");
  const std::string key_id = get_key(*keys, "aws_access_key_id");
  const std::string secret = get_key(*keys, "aws_secret_access_key");
  if (role_arn.empty()) {
    if (key_id.empty() || secret.empty()) {
      fail(source, "has neither aws_access_key_id/aws_secret_access_key nor role_arn");
    }
    return Credentials{key_id, secret, get_key(*keys, "aws_session_token"), std::nullopt, source};
  }
  if (!visiting.insert(name).second) fail(source, "source_profile chain loops back to " + name);
  const std::string role_source = source + " (role " + role_arn + ")";
  const std::string web_token_file = get_key(*keys, "web_identity_token_file");
  if (!web_token_file.empty()) {
    return assume_role_with_web_identity(role_source, web_token_file, role_arn, profile_region);
  }
  Credentials base;
  const std::string source_profile = get_key(*keys, "source_profile");
  const std::string named_source = get_key(*keys, "credential_source");
  if (!source_profile.empty()) {
    if (source_profile == name) {
      // A profile that is its own source uses its static keys (AWS CLI behaviour).
      if (key_id.empty() || secret.empty())
        fail(source, "source_profile is itself but has no keys");
      base = Credentials{key_id, secret, get_key(*keys, "aws_session_token"), std::nullopt, source};
    } else {
      base = profile_credentials(profiles, source_profile, profile_region, visiting);
    }
  } else if (!named_source.empty()) {
    base = credential_source(source, named_source, profile_region);
  } else {
    fail(source, "role_arn needs source_profile, credential_source or web_identity_token_file");
  }
  Credentials assumed = assume_role(base, role_arn, profile_region);
  assumed.source = role_source;
  return assumed;
}

std::optional<Credentials> from_profiles(const std::string& region, Skipped& skipped) {
  std::string name = env("AWS_PROFILE");
  if (name.empty()) name = env("AWS_DEFAULT_PROFILE");
  const bool explicit_profile = !name.empty();
  if (name.empty()) name = "default";
  const Profiles profiles = load_profiles();
  const auto keys = profiles.find(name);
  if (!keys) {
    if (explicit_profile) {
      fail("profile " + name,
           "not found in " + profiles.credentials_path + " or " + profiles.config_path);
    }
    skipped.add(
        "shared files",
        profiles.any_file
            ? "no [default] profile in " + profiles.credentials_path + " or " + profiles.config_path
            : "no " + profiles.credentials_path + " or " + profiles.config_path);
    return std::nullopt;
  }
  if (get_key(*keys, "role_arn").empty() && get_key(*keys, "aws_access_key_id").empty()) {
    // A profile with only settings (region, output) does not end the chain.
    skipped.add("profile " + name, "has no credentials");
    return std::nullopt;
  }
  std::set<std::string> visiting;
  return profile_credentials(profiles, name, region, visiting);
}

}  // namespace

Credentials default_chain_credentials(const std::string& region) {
  Skipped skipped;
  if (auto credentials = from_environment(skipped)) return *credentials;
  if (auto credentials = from_profiles(region, skipped)) return *credentials;
  if (auto credentials = from_web_identity_env(region, skipped)) return *credentials;
  if (auto credentials = from_container(skipped)) return *credentials;
  if (auto credentials = from_instance_metadata(skipped)) return *credentials;
  throw Error(error_reason::kAuth, "no AWS credentials found (" + skipped.join() + ")");
}

Credentials assume_role(const Credentials& base, const std::string& role_arn,
                        const std::string& region) {
  return call_sts("role " + role_arn + " assumed with " + base.source,
                  {{"Action", "AssumeRole"},
                   {"Version", "2011-06-15"},
                   {"RoleArn", role_arn},
                   {"RoleSessionName", session_name()}},
                  &base, region);
}

Credentials CredentialsCache::get(const std::string& key, const Fetch& fetch) {
  std::lock_guard<std::mutex> lock(mutex_);  // also makes concurrent first fetches one fetch
  const auto now = clock_();
  const auto it = cache_.find(key);
  if (it != cache_.end()) {
    const Credentials& cached = it->second.credentials;
    const bool fresh = cached.expiration ? *cached.expiration - now > kRefreshWindow
                                         : now - it->second.fetched < kRereadInterval;
    if (fresh) return cached;
  }
  try {
    Credentials credentials = fetch();
    cache_[key] = Entry{credentials, now};
    return credentials;
  } catch (const std::exception&) {
    if (it != cache_.end() &&
        (!it->second.credentials.expiration ||
         *it->second.credentials.expiration - now > std::chrono::minutes(1))) {
      return it->second.credentials;
    }
    throw;
  }
}

Credentials parse_sts_answer(const std::string& xml) {
  if (xml.find("<ErrorResponse") != std::string::npos || xml.find("<Error>") != std::string::npos) {
    const std::string code = xml_element(xml, "Code").value_or("unknown error");
    const std::string message = xml_element(xml, "Message").value_or("");
    throw std::runtime_error(code + (message.empty() ? "" : ": " + message));
  }
  const auto block = xml_element(xml, "Credentials");
  if (!block) throw std::runtime_error("malformed STS answer (no Credentials element)");
  Credentials credentials;
  credentials.access_key_id = xml_element(*block, "AccessKeyId").value_or("");
  credentials.secret_access_key = xml_element(*block, "SecretAccessKey").value_or("");
  credentials.session_token = xml_element(*block, "SessionToken").value_or("");
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty() ||
      credentials.session_token.empty()) {
    throw std::runtime_error(
        "malformed STS answer (AccessKeyId, SecretAccessKey or SessionToken missing)");
  }
  const std::string expiration = xml_element(*block, "Expiration").value_or("");
  credentials.expiration = parse_iso8601(expiration);
  if (!credentials.expiration) throw std::runtime_error("malformed STS answer (Expiration)");
  return credentials;
}

Credentials parse_credentials_json(const std::string& json) {
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object())
    throw std::runtime_error("malformed credentials answer (not a JSON object)");
  if (doc.contains("Code") && doc["Code"].is_string() && doc["Code"] != "Success") {
    throw std::runtime_error("credentials answer has Code " + doc["Code"].get<std::string>());
  }
  auto field = [&](const char* name) -> std::string {
    const auto it = doc.find(name);
    if (it == doc.end() || !it->is_string() || it->get<std::string>().empty()) {
      throw std::runtime_error(std::string("malformed credentials answer (") + name +
                               " missing or not a string)");
    }
    return it->get<std::string>();
  };
  Credentials credentials;
  credentials.access_key_id = field("AccessKeyId");
  credentials.secret_access_key = field("SecretAccessKey");
  credentials.session_token = field("Token");
  credentials.expiration = parse_iso8601(field("Expiration"));
  if (!credentials.expiration) {
    throw std::runtime_error("malformed credentials answer (Expiration is not an ISO 8601 time)");
  }
  return credentials;
}

std::optional<std::chrono::system_clock::time_point> parse_iso8601(const std::string& text) {
  int year, month, day, hour, minute, second;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                  &second, &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  std::string rest = text.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    std::size_t i = 1;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) ++i;
    if (i == 1) return std::nullopt;
    rest = rest.substr(i);
  }
  if (rest != "Z" && rest != "+00:00" && rest != "z") return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::tm utc{};
  utc.tm_year = year - 1900;
  utc.tm_mon = month - 1;
  utc.tm_mday = day;
  utc.tm_hour = hour;
  utc.tm_min = minute;
  utc.tm_sec = second;
  return std::chrono::system_clock::from_time_t(timegm(&utc));
}

IniFile parse_ini(const std::string& text) {
  IniFile out;
  std::istringstream stream(text);
  std::string line;
  std::string section;
  bool in_section = false;
  while (std::getline(stream, line)) {
    const std::string trimmed = trim(line);
    if (trimmed.empty() || trimmed[0] == '#' || trimmed[0] == ';') continue;
    if (trimmed.front() == '[' && trimmed.back() == ']') {
      section = trim(trimmed.substr(1, trimmed.size() - 2));
      // "[profile  x]" -> "profile x"
      if (section.rfind("profile", 0) == 0 && section.size() > 7 &&
          std::isspace(static_cast<unsigned char>(section[7]))) {
        section = "profile " + trim(section.substr(7));
      }
      out[section];
      in_section = true;
      continue;
    }
    // Indented lines continue a nested block (e.g. "s3 =\n  max_concurrent_requests = 2").
    if (!in_section || std::isspace(static_cast<unsigned char>(line[0]))) continue;
    const std::size_t eq = trimmed.find('=');
    if (eq == std::string::npos) continue;
    out[section][lower(trim(trimmed.substr(0, eq)))] = trim(trimmed.substr(eq + 1));
  }
  return out;
}

}  // namespace driftwatch::aws
