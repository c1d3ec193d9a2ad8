//! The guide steps a diagnosis can point at (zscaler-sipa-office365-guide.txt).

pub const SEGMENT_DOMAINS: &str = "ZPA application segment, Applications: list login.microsoftonline.com, login.windows.net and login.microsoft.com";
pub const SEGMENT_PORTS: &str = "ZPA application segment, TCP Port Ranges: add 80 and 443";
pub const FORWARDING_RULE: &str = "ZIA forwarding rule: Forwarding Method ZPA, trust criteria, Application Segment and ZPA gateway (and rule order); ZIA ZPA gateway with the segment's server group";
pub const SERVER_GROUP: &str = "ZPA segment group and server group: the server group must be associated with the App Connector group whose public IPs are expected";
pub const ACCESS_POLICY: &str = "ZPA access policy: allow the segment for client type ZIA Service Edge only; App Connectors up and enrolled";
pub const TOO_BROAD: &str = "ZPA application segment (only the three login hosts) and the ZIA forwarding rule's destinations";
pub const TRUST_CRITERIA: &str = "ZIA forwarding rule, General tab: trust criteria (locations, users) must not match this vantage";
pub const IPV6: &str = "outside the guide: IPv6 traffic to the login hosts must also reach ZIA (tunnel it or disable IPv6 for these hosts)";
pub const SSL_INSPECTION: &str =
    "ZIA SSL inspection: exempt the login hosts, or pass the inspecting root with --ca-file";
pub const DNS: &str =
    "not a guide step: this vantage's DNS (resolvers, split-horizon zones, DNS filtering)";
pub const PROXY_AUTH: &str = "not a guide step: this vantage's proxy credentials (user in the proxy URL, password in SIPA_CHECK_PROXY_PASSWORD)";
pub const PATH_TO_ZIA: &str =
    "not a guide step: this vantage's path to ZIA (tunnel, PAC file or proxy settings, firewall)";
pub const OBSERVERS: &str = "scenario: add [[observer]] entries (an anchored canary in the SIPA segment on each login port, and a control)";
