// `driftwatch rds-token --host H --port P --user U --region R [--role-arn ARN]`: prints the
// Amazon RDS IAM authentication token the same code path uses for auth = "rds-iam" (a drop-in
// for `aws rds generate-db-auth-token`). Credentials come from the AWS default chain
// (daemon/aws/credentials.hpp).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace driftwatch {

// Exit codes: 0 token printed, 2 usage error, 3 no AWS credentials (the reason on stderr).
int run_rds_token(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace driftwatch
