#include "app/cmd_rds_token.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "app/args.hpp"
#include "aws/rds_token.hpp"
#include "driftwatch/error.hpp"

namespace driftwatch {

namespace {

constexpr const char* kUsage =
    "usage: driftwatch rds-token --host H [--port P] --user U [--region R] [--role-arn ARN]\n"
    "  prints an Amazon RDS IAM authentication token (valid 15 minutes); port defaults to "
    "5432,\n"
    "  region to the endpoint name's (*.REGION.rds.amazonaws.com), AWS_REGION or "
    "AWS_DEFAULT_REGION\n";

}  // namespace

int run_rds_token(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ParsedArgs parsed;
  try {
    parsed = parse_args(args, {"host", "port", "user", "region", "role-arn"}, {"help"});
  } catch (const UsageError& e) {
    err << "driftwatch rds-token: " << e.what() << "\n" << kUsage;
    return 2;
  }
  if (parsed.flag("help")) {
    out << kUsage;
    return 0;
  }
  aws::RdsTokenRequest request;
  request.host = parsed.get("host");
  request.user = parsed.get("user");
  request.role_arn = parsed.get("role-arn");
  if (request.host.empty() || request.user.empty()) {
    err << "driftwatch rds-token: --host and --user are required\n" << kUsage;
    return 2;
  }
  const std::string port = parsed.get("port", "5432");
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
      std::stoi(port) < 1 || std::stoi(port) > 65535) {
    err << "driftwatch rds-token: --port must be a number between 1 and 65535\n";
    return 2;
  }
  request.port = std::stoi(port);
  if (!request.role_arn.empty() && (request.role_arn.rfind("arn:", 0) != 0 ||
                                    request.role_arn.find(":role/") == std::string::npos)) {
    err << "driftwatch rds-token: --role-arn must be an IAM role ARN "
           "(arn:aws:iam::ACCOUNT:role/NAME)\n";
    return 2;
  }
  request.region = parsed.get("region");
  if (request.region.empty()) request.region = aws::region_from_rds_host(request.host);
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (!request.region.empty()) break;
    if (const char* value = std::getenv(name); value != nullptr) request.region = value;
  }
  if (request.region.empty()) {
    err << "driftwatch rds-token: no region (give --region, set AWS_REGION, or use the "
           "*.REGION.rds.amazonaws.com endpoint name)\n";
    return 2;
  }
  try {
    out << aws::rds_token_provider().token(request) << "\n";
  } catch (const Error& e) {
    err << "driftwatch rds-token: " << e.what() << "\n";
    return e.reason() == "config" ? 2 : 3;
  }
  return 0;
}

}  // namespace driftwatch
