//! The lab tenant's ZPA and ZIA objects, in the APIs' documented shapes (string ids beyond
//! 2^53 for ZPA, integers for ZIA, ZPA's string flags and counts, the predefined ZIA gateways and
//! rules), with the audit faults (and the network faults they share) applied.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::audit_fault::AuditFault;
use crate::lab::{ANCHOR_IP, CANARY_HOST, Fault, LOGIN_HOSTS, WRONG_CONNECTOR_IP};

/// The lab's ZPA customer id.
pub const CUSTOMER_ID: &str = "216196257331281920";
pub const SEGMENT_ID: &str = "216196257331404639";
pub const SEGMENT_NAME: &str = "O365 SIPA";
pub const SEGMENT_GROUP_ID: &str = "216196257331404637";
pub const SERVER_GROUP_ID: &str = "216196257331404638";
pub const SERVER_GROUP_NAME: &str = "SIPA servers";
pub const CONNECTOR_GROUP_ID: &str = "216196257331404636";
const BRANCH_SERVER_GROUP_ID: &str = "216196257331404651";
const BRANCH_CONNECTOR_GROUP_ID: &str = "216196257331404650";
const INTRANET_SEGMENT_ID: &str = "216196257331404640";
pub const ACCESS_RULE_ID: &str = "216196257331404700";
pub const FORWARDING_RULE_ID: &str = "216196257331404710";
pub const GATEWAY_ID: u64 = 9_727_909;
pub const ZIA_RULE_ID: u64 = 1_245_777;

/// Every object list of the lab tenant.
#[derive(Debug, Clone)]
pub struct LabTenant {
    pub segments: Vec<Value>,
    pub segment_groups: Vec<Value>,
    pub server_groups: Vec<Value>,
    pub connector_groups: Vec<Value>,
    pub connectors: Vec<Value>,
    pub access_rules: Vec<Value>,
    pub forwarding_rules: Vec<Value>,
    pub zia_gateways: Vec<Value>,
    pub zia_rules: Vec<Value>,
    pub zia_status: Value,
}

fn operand(id: &str, object_type: &str, rhs: &str) -> Value {
    json!({"id": id, "objectType": object_type, "lhs": "id", "rhs": rhs, "name": rhs})
}

impl LabTenant {
    /// The tenant with `audit` faults and the network `faults` that have a configuration side.
    pub fn new(faults: &BTreeSet<Fault>, audit: &BTreeSet<AuditFault>) -> LabTenant {
        let mut all: BTreeSet<AuditFault> = audit.clone();
        all.extend(faults.iter().filter_map(|f| AuditFault::of_network(*f)));
        let has = |f| all.contains(&f);

        let mut domains: Vec<String> = LOGIN_HOSTS.iter().map(|h| (*h).to_string()).collect();
        if has(AuditFault::HostMissing) {
            domains.retain(|d| d != "login.windows.net");
        }
        if has(AuditFault::WildcardOnly) {
            domains = vec![
                "*.microsoftonline.com".into(),
                "*.windows.net".into(),
                "*.microsoft.com".into(),
            ];
        }
        domains.push(CANARY_HOST.to_string());
        let (flat, ranges) = if has(AuditFault::Port80Missing) {
            (json!(["443", "443"]), json!([{"from": "443", "to": "443"}]))
        } else {
            (
                json!(["80", "80", "443", "443"]),
                json!([{"from": "80", "to": "80"}, {"from": "443", "to": "443"}]),
            )
        };
        let sipa_server_group = json!({"id": SERVER_GROUP_ID, "name": SERVER_GROUP_NAME, "enabled": true,
            "configSpace": "DEFAULT", "weight": "0", "passive": false, "extranetEnabled": false, "dynamicDiscovery": true});
        let segments = vec![
            json!({"id": SEGMENT_ID, "name": SEGMENT_NAME, "description": "Office 365 login hosts, anchored",
                "domainNames": domains, "enabled": true, "ipAnchored": !has(AuditFault::AnchorOff),
                "tcpPortRanges": flat, "tcpPortRange": ranges, "doubleEncrypt": false, "bypassType": "NEVER",
                "healthCheckType": "DEFAULT", "icmpAccessType": "NONE", "isCnameEnabled": true,
                "inspectTrafficWithZia": false, "healthReporting": "ON_ACCESS", "matchStyle": "EXCLUSIVE",
                "microtenantName": "Default", "segmentGroupId": SEGMENT_GROUP_ID, "segmentGroupName": "O365",
                "serverGroups": [sipa_server_group], "modifiedTime": "1773369874"}),
            json!({"id": INTRANET_SEGMENT_ID, "name": "Intranet", "domainNames": ["intranet.sipa-lab.test"],
                "enabled": true, "ipAnchored": false, "tcpPortRanges": ["443", "443"],
                "tcpPortRange": [{"from": "443", "to": "443"}], "bypassType": "NEVER", "doubleEncrypt": false,
                "segmentGroupId": "216196257331404641", "segmentGroupName": "Intranet",
                "serverGroups": [{"id": BRANCH_SERVER_GROUP_ID, "name": "Branch servers", "enabled": true}]}),
        ];
        let segment_groups = vec![
            json!({"id": SEGMENT_GROUP_ID, "name": "O365", "enabled": true, "configSpace": "DEFAULT",
                "tcpKeepAliveEnabled": "0", "readOnly": false, "zscalerManaged": false,
                "applications": [{"id": SEGMENT_ID, "name": SEGMENT_NAME}]}),
            json!({"id": "216196257331404641", "name": "Intranet", "enabled": true, "tcpKeepAliveEnabled": "0"}),
        ];
        let sipa_connector_group = if has(AuditFault::WrongConnectorGroup) {
            json!({"id": BRANCH_CONNECTOR_GROUP_ID, "name": "Branch connectors", "connectorGroupType": "APP"})
        } else {
            json!({"id": CONNECTOR_GROUP_ID, "name": "SIPA connectors", "connectorGroupType": "APP"})
        };
        let server_groups = vec![
            json!({"id": SERVER_GROUP_ID, "name": SERVER_GROUP_NAME, "enabled": true, "ipAnchored": false,
                "configSpace": "DEFAULT", "extranetEnabled": false, "dynamicDiscovery": true,
                "appConnectorGroups": [sipa_connector_group],
                "applications": [{"id": SEGMENT_ID, "name": SEGMENT_NAME}]}),
            json!({"id": BRANCH_SERVER_GROUP_ID, "name": "Branch servers", "enabled": true, "dynamicDiscovery": true,
                "appConnectorGroups": [{"id": BRANCH_CONNECTOR_GROUP_ID, "name": "Branch connectors"}]}),
        ];
        let status = if has(AuditFault::ConnectorDisconnected) {
            "ZPN_STATUS_DISCONNECTED"
        } else {
            "ZPN_STATUS_AUTHENTICATED"
        };
        let connectors = vec![
            json!({"id": "216196257331404800", "name": "ac-sipa-1", "enabled": true,
                "appConnectorGroupId": CONNECTOR_GROUP_ID, "appConnectorGroupName": "SIPA connectors",
                "publicIp": ANCHOR_IP.to_string(), "privateIp": "10.10.0.5", "controlChannelStatus": status,
                "currentVersion": "24.326.1", "platform": "el9",
                "assistantVersion": {"ctrlChannelStatus": status, "publicIp": ANCHOR_IP.to_string(), "privateIp": "10.10.0.5"}}),
            json!({"id": "216196257331404801", "name": "ac-branch-1", "enabled": true,
                "appConnectorGroupId": BRANCH_CONNECTOR_GROUP_ID, "appConnectorGroupName": "Branch connectors",
                "publicIp": WRONG_CONNECTOR_IP.to_string(), "privateIp": "10.20.0.5",
                "controlChannelStatus": "ZPN_STATUS_AUTHENTICATED"}),
        ];
        let connector_groups = vec![
            json!({"id": CONNECTOR_GROUP_ID, "name": "SIPA connectors", "enabled": true, "connectorGroupType": "APP",
                "location": "Lab", "serverGroups": [{"id": SERVER_GROUP_ID, "name": SERVER_GROUP_NAME}]}),
            json!({"id": BRANCH_CONNECTOR_GROUP_ID, "name": "Branch connectors", "enabled": true,
                "connectorGroupType": "APP", "serverGroups": [{"id": BRANCH_SERVER_GROUP_ID, "name": "Branch servers"}]}),
        ];
        let client_type = if has(AuditFault::AccessZiaInspection) {
            "zpn_client_type_zia_inspection"
        } else {
            "zpn_client_type_ip_anchoring"
        };
        let access_rules = vec![
            json!({"id": ACCESS_RULE_ID, "name": "SIPA O365 access", "ruleOrder": "1", "priority": "1",
                "policyType": "1", "operator": "AND", "action": "ALLOW", "disabled": "0",
                "policySetId": "216196257331281925", "defaultRule": false, "readOnly": false,
                "conditions": [
                    {"id": "46277301", "operator": "OR", "negated": false,
                     "operands": [operand("46277302", "APP", SEGMENT_ID)]},
                    {"id": "46277303", "operator": "OR", "negated": false,
                     "operands": [operand("46277304", "CLIENT_TYPE", client_type)]}]}),
            json!({"id": "216196257331404701", "name": "Intranet users", "ruleOrder": "2", "priority": "2",
                "policyType": "1", "operator": "AND", "action": "ALLOW", "disabled": "0",
                "conditions": [
                    {"id": "46277305", "operator": "OR", "negated": false,
                     "operands": [operand("46277306", "APP", INTRANET_SEGMENT_ID)]},
                    {"id": "46277307", "operator": "OR", "negated": false,
                     "operands": [operand("46277308", "CLIENT_TYPE", "zpn_client_type_zapp")]}]}),
        ];
        let action = if has(AuditFault::ForwardingIntercept) {
            "INTERCEPT"
        } else {
            "INTERCEPT_ACCESSIBLE"
        };
        let forwarding_rules = vec![
            json!({"id": FORWARDING_RULE_ID, "name": "SIPA O365 forwarding", "ruleOrder": "1", "priority": "1",
                "policyType": "4", "operator": "AND", "action": action, "disabled": "0",
                "policySetId": "216196257331281929", "defaultRule": false, "defaultRuleName": "Default_Rule",
                "conditions": [{"id": "46277378", "operator": "OR", "negated": false,
                    "operands": [operand("46277379", "APP", SEGMENT_ID)]}]}),
            json!({"id": "216196257331281930", "name": "Default_Rule", "ruleOrder": "2", "policyType": "4",
                "action": "INTERCEPT", "disabled": "0", "defaultRule": true}),
        ];
        let gateway_server_group = if has(AuditFault::GatewayOtherServerGroup) {
            json!({"id": 0, "name": "Branch servers", "externalId": BRANCH_SERVER_GROUP_ID})
        } else {
            json!({"id": 0, "name": SERVER_GROUP_NAME, "externalId": SERVER_GROUP_ID})
        };
        let zia_gateways = vec![
            json!({"id": 2_387_145, "name": "Auto ZPA Gateway", "zpaServerGroup": {"id": 0, "name": "Auto Server Group"},
                "zpaAppSegments": [{"id": 0, "name": "Inspect App Segments", "externalId": "2"}],
                "lastModifiedTime": 1_694_912_902_u64,
                "description": "Predefined ZPA gateway for ZIA inspection of App Segments", "readOnly": true}),
            json!({"id": 2_387_146, "name": "Auto Extranet ZPA Gateway", "zpaServerGroup": {"id": 0, "name": "Auto Server Group"},
                "zpaAppSegments": [], "readOnly": true}),
            json!({"id": GATEWAY_ID, "name": "SIPA gateway", "type": "ZPA", "zpaServerGroup": gateway_server_group,
                "zpaAppSegments": [{"id": 0, "name": SEGMENT_NAME, "externalId": SEGMENT_ID}],
                "zpaTenantId": 42, "lastModifiedBy": {"id": 117_810_311, "name": "admin@sipa-lab.test"},
                "lastModifiedTime": 1_755_899_371_u64}),
        ];
        let state = if has(AuditFault::ForwardingRuleDisabled) {
            "DISABLED"
        } else {
            "ENABLED"
        };
        let zia_rules = vec![
            json!({"accessControl": "READ_WRITE", "id": 752_922, "name": "ZIA Inspected ZPA Apps", "type": "FORWARDING",
                "order": -4, "rank": 7, "forwardMethod": "ZPA", "state": "DISABLED",
                "description": "Forwards all ZPA application requiring ZIA inspection",
                "zpaAppSegments": [{"id": 2_387_144, "name": "Inspect App Segments", "externalId": "2"}],
                "zpaGateway": {"id": 2_387_145, "name": "Auto ZPA Gateway"}}),
            json!({"accessControl": "READ_WRITE", "id": 752_923, "name": "ZPA Pool For Stray Traffic",
                "type": "FORWARDING", "order": -3, "rank": 7, "forwardMethod": "DROP", "state": "ENABLED"}),
            json!({"accessControl": "READ_WRITE", "id": ZIA_RULE_ID, "name": "SIPA O365", "type": "FORWARDING",
                "order": 1, "rank": 7, "forwardMethod": "ZPA", "state": state,
                "locations": [{"id": 31_337, "name": "Lab HQ"}], "users": [], "groups": [],
                "zpaGateway": {"id": GATEWAY_ID, "name": "SIPA gateway"},
                "zpaAppSegments": [{"id": 0, "name": SEGMENT_NAME, "externalId": SEGMENT_ID}],
                "lastModifiedTime": 1_755_899_400_u64}),
        ];
        let zia_status = json!({"status": if has(AuditFault::ActivationPending) { "PENDING" } else { "ACTIVE" }});
        LabTenant {
            segments,
            segment_groups,
            server_groups,
            connector_groups,
            connectors,
            access_rules,
            forwarding_rules,
            zia_gateways,
            zia_rules,
            zia_status,
        }
    }

    /// The list behind a ZPA path below the customer, if any.
    pub fn zpa_list(&self, path: &str) -> Option<&[Value]> {
        Some(match path {
            "/application" => &self.segments,
            "/segmentGroup" => &self.segment_groups,
            "/serverGroup" => &self.server_groups,
            "/appConnectorGroup" => &self.connector_groups,
            "/connector" => &self.connectors,
            "/policySet/rules/policyType/ACCESS_POLICY" => &self.access_rules,
            "/policySet/rules/policyType/CLIENT_FORWARDING_POLICY" => &self.forwarding_rules,
            _ => return None,
        })
    }

    /// The list behind a ZIA path below `/api/v1`, if any.
    pub fn zia_list(&self, path: &str) -> Option<&[Value]> {
        Some(match path {
            "/zpaGateways" => &self.zia_gateways,
            "/forwardingRules" => &self.zia_rules,
            _ => return None,
        })
    }
}
