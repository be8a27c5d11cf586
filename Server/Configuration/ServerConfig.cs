using System.Net;
using MailServer.Rules.MailboxRules;
using MailServer.Rules.Addressing;

namespace MailServer.Server.Configuration;

/// <summary>
/// The validated "MailServer" section of appsettings.json: one immutable configuration generation.
/// Produced only by <see cref="ConfigLoader"/>; every path in it is already absolute (see
/// <see cref="ConfigLoader"/> for the resolution rules) and every address is lower-cased.
/// </summary>
public sealed record ServerConfig(
    string ConfigFilePath,
    string ServerName,
    string DataDirectory,
    ListenersConfig Listeners,
    TlsConfig Tls,
    DnsConfig Dns,
    DeliveryConfig Delivery,
    LimitsConfig Limits,
    IReadOnlyList<OrganizationConfig> Organizations)
{
    /// <summary>The spam and virus engines (MailServer.ContentFiltering); <see cref="ContentFilteringConfig.Off"/> when absent.</summary>
    public ContentFilteringConfig ContentFiltering { get; init; } = ContentFilteringConfig.Off;

    /// <summary>The store engine (MailServer.Storage); LiteDB when absent. Read at start.</summary>
    public StorageConfig Storage { get; init; } = StorageConfig.LiteDb;
}

/// <summary>Where the server listens. Changing any of these needs a restart.</summary>
/// <param name="BindAddress">The address every listener binds (0.0.0.0: all).</param>
/// <param name="Smtp">The SMTP MX port (2525).</param>
/// <param name="Submission">Submission with STARTTLS (2587).</param>
/// <param name="Submissions">Submission over implicit TLS (2465).</param>
/// <param name="Imap">IMAP with STARTTLS (2143).</param>
/// <param name="Imaps">IMAP over implicit TLS (2993).</param>
/// <param name="Admin">The admin HTTP listener's address and port (127.0.0.1:8025).</param>
/// <param name="Https">The HTTPS listener for client autoconfiguration, autodiscover and the MTA-STS policy (2443).</param>
public sealed record ListenersConfig(
    IPAddress BindAddress,
    int Smtp,
    int Submission,
    int Submissions,
    int Imap,
    int Imaps,
    IPEndPoint Admin,
    int Https = ListenersConfig.DefaultHttps)
{
    /// <summary>The default HTTPS port (above 1024, so the server runs without root, like its other default ports).</summary>
    public const int DefaultHttps = 2443;

    /// <summary>The default plain HTTP port for ACME HTTP-01 challenges (forward TCP 80 to it).</summary>
    public const int DefaultHttp = 2080;

    /// <summary>
    /// The plain HTTP listener for ACME HTTP-01 challenges (RFC 8555 §8.3); open only when <c>Tls.Acme</c> is
    /// configured. Everything else on it is redirected to HTTPS.
    /// </summary>
    public int Http { get; init; } = DefaultHttp;
}

/// <summary>
/// TLS settings. Both paths null: a self-signed certificate is generated under the data directory.
/// Paths are absolute (resolved against the data directory when relative).
/// </summary>
public sealed record TlsConfig(string? CertificatePath, string? KeyPath, bool AllowPlaintextAuth)
{
    /// <summary>Certificates from an ACME CA (RFC 8555) instead of the files or the generated one; null: off.</summary>
    public AcmeConfig? Acme { get; init; }
}

/// <summary>
/// Where and for which names the server obtains its certificate by ACME (RFC 8555), with HTTP-01 challenges
/// answered on <see cref="ListenersConfig.Http"/>. The certificate, its key and the account key live under
/// <c>&lt;data&gt;/acme/</c>; the generated self-signed certificate is presented until the first one is issued.
/// </summary>
/// <param name="DirectoryUrl">The CA's directory (Let's Encrypt: https://acme-v02.api.letsencrypt.org/directory).</param>
/// <param name="Email">The account's contact address (expiry and policy notices from the CA).</param>
/// <param name="Domains">The names the certificate covers, lower-case; the first is its subject. Default: ServerName.</param>
public sealed record AcmeConfig(Uri DirectoryUrl, string Email, IReadOnlyList<string> Domains);

/// <summary>
/// The DNS resolver's name servers (empty: the system resolver's, on port 53), the port for configured servers,
/// and how long one query may take before it counts as a temporary failure.
/// </summary>
public sealed record DnsConfig(IReadOnlyList<IPAddress> Servers, int Port, int TimeoutSeconds);

/// <summary>Outbound delivery settings (the outbound queue).</summary>
/// <param name="RemotePort">TCP port of remote MX hosts (25; tests point it at their receiver).</param>
/// <param name="QueueLifetimeHours">How long a temporarily failing recipient is retried before it bounces (5 days).</param>
/// <param name="DelayWarningHours">When a delay DSN goes out for a recipient still pending (4 h, RFC 3461 DELAY).</param>
/// <param name="RetryMinimumSeconds">First retry delay; it doubles per attempt (Postfix's minimal_backoff_time).</param>
/// <param name="RetryMaximumSeconds">The longest delay between two attempts (Postfix's maximal_backoff_time).</param>
/// <param name="MaxConnectionsPerDomain">Concurrent connections to one destination.</param>
public sealed record DeliveryConfig(int RemotePort, int QueueLifetimeHours, int DelayWarningHours, int RetryMinimumSeconds,
    int RetryMaximumSeconds, int MaxConnectionsPerDomain)
{
    /// <summary>Port 25, 120 h lifetime, delay warning after 4 h, retries from 5 min doubling to 1 h, 5 connections per destination.</summary>
    public static DeliveryConfig Default { get; } = new(25, 120, 4, 300, 3600, 5);

    /// <summary>
    /// The HTTPS port MTA-STS policies are fetched from (443, RFC 8461 §3.3; tests point it at their policy server,
    /// as <see cref="RemotePort"/> points MX delivery at their receiver).
    /// </summary>
    public int MtaStsPolicyPort { get; init; } = 443;

    /// <summary>
    /// Count sessions judged by recipient domains' MTA-STS and DANE policies and send the daily TLS-RPT report (RFC 8460)
    /// to those that publish <c>_smtp._tls</c>. On by default: a domain asks for it by publishing the record, and the
    /// report holds only session counts about its own MX hosts.
    /// </summary>
    public bool TlsReports { get; init; } = true;

    /// <summary>§10.5: the first retry of a held message's synchronous hook (1 s); it doubles per attempt.</summary>
    public int HookRetryMinimumSeconds { get; init; } = 1;

    /// <summary>§10.5: the longest delay between two calls of a synchronous hook (5 min).</summary>
    public int HookRetryMaximumSeconds { get; init; } = 300;

    /// <summary>Exponential backoff of a synchronous hook after <paramref name="attempts"/> failed calls, at most <see cref="HookRetryMaximumSeconds"/>.</summary>
    public TimeSpan HookRetryDelay(int attempts) =>
        TimeSpan.FromSeconds(Math.Min(HookRetryMinimumSeconds * Math.Pow(2, Math.Min(attempts - 1, 20)), HookRetryMaximumSeconds));
}

/// <summary>
/// Protocol limits (docs/decisions.md, "Limits"; WorkMail Administrator Guide, "Quotas and limits"). "MiB"/"KiB" are binary units.
/// </summary>
public sealed record LimitsConfig(
    int MaxMessageSizeMiB,
    int MaxRecipients,
    int MaxAttachments,
    int MaxMimeParts,
    int ExternalRecipientsPerUserPerDay,
    int MaxCommandLineBytes,
    int MaxHeaderSectionKiB,
    int MaxMimeDepth,
    int MaxConnectionsPerIp,
    int SessionTimeoutSeconds)
{
    /// <summary>The defaults: 40 MiB, 500 recipients, 500 attachments, 10,000 external recipients a day, ...</summary>
    public static LimitsConfig Default { get; } = new(40, 500, 500, 1000, 10_000, 2048, 100, 100, 50, 300);

    /// <summary>The largest message in bytes (the SIZE keyword's value).</summary>
    public long MaxMessageBytes => MaxMessageSizeMiB * 1024L * 1024L;

    /// <summary>Message bytes held in memory at once, server-wide, in MiB (admission by bytes: a received message
    /// waits for room, a DATA begun while it is used up gets 452 4.3.1). Default 256.</summary>
    public int MaxBytesInFlightMiB { get; init; } = 256;

    /// <summary>Seconds a received message waits for room in <see cref="MaxBytesInFlightMiB"/> before it is answered
    /// 452 4.3.1; 0 answers at once. Default 300.</summary>
    public int BytesInFlightWaitSeconds { get; init; } = 300;
}

/// <summary>One tenant: its id, alias, key file, domains, directory entries and rule sections.</summary>
public sealed record OrganizationConfig(
    string Id,
    string Alias,
    string MasterKeyPath,
    IReadOnlyList<DomainConfig> Domains,
    IReadOnlyList<UserConfig> Users,
    IReadOnlyList<GroupConfig> Groups,
    IReadOnlyList<MailboxPermissionConfig> MailboxPermissions,
    IReadOnlyList<AccessControlRuleConfig> AccessControlRules,
    FlowRulesConfig FlowRules,
    IReadOnlyList<SmtpGatewayConfig> SmtpGateways,
    string? DefaultSmtpGateway,
    DmarcConfig Dmarc,
    JournalingConfig Journaling,
    RetentionPolicyConfig RetentionPolicy,
    EmailEventLogConfig EmailEventLog,
    MessageFlowApiConfig? MessageFlowApi = null,
    AuditLogConfig? AuditLog = null,
    MtaStsConfig? MtaSts = null)
{
    /// <summary>The WorkMail API's access keys (Organizations[].AdminApi); null or no keys: the API refuses every call for this organization.</summary>
    public AdminApiConfig? AdminApi { get; init; }

    /// <summary>The organization's tags (TagResource, §2.7): at most 50, keys unique.</summary>
    public IReadOnlyList<TagConfig> Tags { get; init; } = [];

    /// <summary>Whether the engines scan this organization's mail (Organizations[].ContentFiltering).</summary>
    public OrganizationContentFilteringConfig ContentFiltering { get; init; } = OrganizationContentFilteringConfig.Default;

    /// <summary>The audit log settings in force (the defaults when the section is absent).</summary>
    public AuditLogConfig AuditLogSettings => AuditLog ?? AuditLogConfig.Default;

    /// <summary>
    /// The primary address of the user or group that receives postmaster@ and abuse@ mail of every domain
    /// (RFC 5321 §4.5.1); null: the organization's first enabled user.
    /// </summary>
    public string? Postmaster { get; init; }

    /// <summary>Where the master key comes from (a file at <see cref="MasterKeyPath"/> unless configured otherwise).</summary>
    public MasterKeySourceConfig MasterKeySource { get; init; } = MasterKeySourceConfig.FileSource;

    /// <summary>The PKCS#11 token of the Pkcs11 key provider (null for the other providers).</summary>
    public Pkcs11Config? Pkcs11 { get; init; }

    /// <summary>The organization's default domain (validation guarantees exactly one).</summary>
    public string DefaultDomain => Domains.First(d => d.Default).Name;
}

/// <summary>Where an organization's master key versions come from.</summary>
public enum MasterKeyProviderKind
{
    /// <summary>A file per version: <c>MasterKeyPath</c>, then <c>name.v2.key</c>, ... (created by the server).</summary>
    File,
    /// <summary>An environment variable per version: <c>NAME</c>, then <c>NAME_V2</c>, ... (base64 or hex of 32 bytes).</summary>
    Environment,
    /// <summary>A systemd credential per version in <c>$CREDENTIALS_DIRECTORY</c>: <c>name</c>, then <c>name.v2</c>, ...</summary>
    SystemdCredential,
    /// <summary>An unextractable AES-256 key per version in a PKCS#11 token (an HSM; SoftHSM in the tests): label
    /// <c>name</c>, then <c>name.v2</c>, ...; see <see cref="Pkcs11Config"/>.</summary>
    Pkcs11,
}

/// <summary>
/// <c>Organizations[].Pkcs11</c>: the PKCS#11 module, the token (by label) and where its user PIN comes from (a file
/// or an environment variable; never the configuration itself, never logged).
/// </summary>
public sealed record Pkcs11Config(string Library, string TokenLabel, string? PinFile, string? PinEnvironmentVariable);

/// <summary><c>Organizations[].MasterKeyProvider</c> and <c>MasterKeyName</c>.</summary>
public sealed record MasterKeySourceConfig(MasterKeyProviderKind Provider, string Name)
{
    /// <summary>The File provider (the default).</summary>
    public static MasterKeySourceConfig FileSource { get; } = new(MasterKeyProviderKind.File, "");

    /// <summary>The default name: <c>MAILSERVER_MASTER_KEY_&lt;ALIAS&gt;</c> for the environment, <c>mailserver-&lt;alias&gt;.key</c> for a credential.</summary>
    public static string DefaultName(MasterKeyProviderKind provider, string alias) => provider switch
    {
        MasterKeyProviderKind.Environment => "MAILSERVER_MASTER_KEY_" + alias.ToUpperInvariant().Replace('-', '_'),
        MasterKeyProviderKind.SystemdCredential => "mailserver-" + alias + ".key",
        MasterKeyProviderKind.Pkcs11 => "mailserver-" + alias,
        _ => "",
    };
}

/// <summary>A mail domain, lower-case ASCII (IDNs in A-label form).</summary>
public sealed record DomainConfig(string Name, bool Default);

/// <summary>
/// A user with a mailbox. <see cref="PasswordHash"/> null: the user cannot log in yet. <see cref="MailboxRules"/>:
/// the user's MAILBOX_RULE rules (§9.8), validated; null or empty when none.
/// </summary>
public sealed record UserConfig(
    string Email,
    string DisplayName,
    IReadOnlyList<string> Aliases,
    string? PasswordHash,
    bool Enabled,
    int MailboxQuotaMiB,
    IReadOnlyList<MailboxRuleDefinition>? MailboxRules = null)
{
    /// <summary>The highest quota WorkMail allows, and the default (§4.1).</summary>
    public const int MaxQuotaMiB = 51_200;

    /// <summary>The entity id written in the file (<c>Id</c>), or null: the id is derived from the address (<see cref="EntityIds"/>).</summary>
    public string? Id { get; init; }

    /// <summary>The user name written in the file (<c>Name</c>), or null: the local part of <see cref="Email"/>.</summary>
    public string? Name { get; init; }

    /// <summary>Directory attributes of WorkMail's User type (FirstName, LastName, JobTitle, ...); only those set.</summary>
    public IReadOnlyDictionary<string, string> Attributes { get; init; } = EmptyAttributes;

    /// <summary>Hidden from the global address list (§4.3).</summary>
    public bool HiddenFromGlobalAddressList { get; init; }

    /// <summary>The user's entity id: <see cref="Id"/> or the one derived from the address.</summary>
    public string EntityId(string organizationId) => Id ?? EntityIds.Derive(organizationId, Email);

    /// <summary>The user name: <see cref="Name"/> or the local part of the address.</summary>
    public string UserName => Name ?? AddressSyntax.LocalPartOf(Email);

    /// <summary>The directory attributes a user can carry (WorkMail's UpdateUser), in their order there.</summary>
    public static IReadOnlyList<string> AttributeNames { get; } =
        ["FirstName", "LastName", "Initials", "Telephone", "Street", "JobTitle", "City", "Company", "ZipCode", "Department", "Country", "Office"];

    private static readonly IReadOnlyDictionary<string, string> EmptyAttributes = new Dictionary<string, string>();
}

/// <summary>A distribution group; members are addresses of users or groups of the same organization.</summary>
public sealed record GroupConfig(string Email, IReadOnlyList<string> Aliases, IReadOnlyList<string> Members)
{
    /// <summary>The entity id written in the file (<c>Id</c>), or null: derived from the address (<see cref="EntityIds"/>).</summary>
    public string? Id { get; init; }

    /// <summary>The group name written in the file (<c>Name</c>), or null: the local part of <see cref="Email"/>.</summary>
    public string? Name { get; init; }

    /// <summary>False: registered with WorkMail's API but not enabled (DeregisterFromWorkMail); it receives no mail.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Hidden from the global address list (§4.3).</summary>
    public bool HiddenFromGlobalAddressList { get; init; }

    /// <summary>The group's entity id: <see cref="Id"/> or the one derived from the address.</summary>
    public string EntityId(string organizationId) => Id ?? EntityIds.Derive(organizationId, Email);

    /// <summary>The group name: <see cref="Name"/> or the local part of the address.</summary>
    public string GroupName => Name ?? AddressSyntax.LocalPartOf(Email);
}

/// <summary>The mailbox permissions of §5.</summary>
public enum MailboxPermission
{
    /// <summary>Read and write the whole mailbox (only on a user's mailbox).</summary>
    FullAccess,
    /// <summary>Send with the owner in From, no Sender header.</summary>
    SendAs,
    /// <summary>Send with the owner in From and the real sender in Sender.</summary>
    SendOnBehalf,
}

/// <summary>A grant of permissions on <see cref="Mailbox"/> to <see cref="Grantee"/> (a user or a group).</summary>
public sealed record MailboxPermissionConfig(string Mailbox, string Grantee, IReadOnlyList<MailboxPermission> Permissions);

/// <summary>Allow or Deny.</summary>
public enum AccessEffect
{
    /// <summary>The rule grants access.</summary>
    Allow,
    /// <summary>The rule refuses access; any matching Deny wins.</summary>
    Deny,
}

/// <summary>
/// An access control rule (§6). Empty condition lists mean "any". Protocol names are
/// <see cref="AccessControlRuleConfig.KnownProtocols"/>.
/// </summary>
public sealed record AccessControlRuleConfig(
    string Name,
    AccessEffect Effect,
    IReadOnlyList<string> Protocols,
    IReadOnlyList<string> NotProtocols,
    IReadOnlyList<IPNetwork> IpRanges,
    IReadOnlyList<IPNetwork> NotIpRanges,
    IReadOnlyList<string> Users,
    IReadOnlyList<string> NotUsers)
{
    /// <summary>The protocols this server serves and access rules can name.</summary>
    public static IReadOnlyList<string> KnownProtocols { get; } = ["IMAP", "SMTP"];

    /// <summary>What the rule is for (WorkMail's Description), or null.</summary>
    public string? Description { get; init; }
}

/// <summary>Inbound and outbound email flow rules (§9).</summary>
public sealed record FlowRulesConfig(IReadOnlyList<FlowRuleConfig> Inbound, IReadOnlyList<FlowRuleConfig> Outbound)
{
    /// <summary>Inbound action names (docs/decisions.md, "The config contract"), most restrictive first.</summary>
    public static IReadOnlyList<string> InboundActions { get; } = ["Drop", "Bounce", "MoveToJunk", "Default", "BypassSpamCheck", "RunHook"];

    /// <summary>Outbound action names (docs/decisions.md, "The config contract"), most restrictive first.</summary>
    public static IReadOnlyList<string> OutboundActions { get; } = ["Drop", "Bounce", "RouteToSmtpGateway", "Default", "RunHook"];
}

/// <summary>
/// One flow rule. <see cref="SmtpGateway"/> is set exactly for RouteToSmtpGateway, <see cref="Hook"/>
/// exactly for RunHook. Patterns are lower-cased and shape-checked (§9.4).
/// </summary>
public sealed record FlowRuleConfig(
    string Name,
    string Action,
    IReadOnlyList<string> SenderPatterns,
    IReadOnlyList<string> RecipientPatterns,
    string? SmtpGateway,
    HookConfig? Hook);

/// <summary>A RunHook rule's webhook (§10). <see cref="RuleTimeoutMinutes"/> is 0–240.</summary>
public sealed record HookConfig(Uri Url, bool Synchronous, string FallbackAction, int RuleTimeoutMinutes, string? Secret);

/// <summary>How an SMTP gateway connection is secured.</summary>
public enum SmtpGatewaySecurity
{
    /// <summary>STARTTLS required (the default).</summary>
    StartTls,
    /// <summary>Implicit TLS from the first byte.</summary>
    Tls,
    /// <summary>No TLS: only for a relay on a trusted network, the admin's explicit choice.</summary>
    None,
}

/// <summary>An outbound SMTP gateway (§9.7). Username and Password are both set or both null.</summary>
public sealed record SmtpGatewayConfig(string Name, string Host, int Port, string? Username, string? Password, SmtpGatewaySecurity Security)
{
    /// <summary>Never prints the password.</summary>
    public override string ToString() => $"SmtpGateway {Name} {Host}:{Port} {Security}";
}

/// <summary>DMARC enforcement (§12) and aggregate reports (RFC 7489 §7.2).</summary>
/// <param name="Enforce">Act on senders' DMARC policies.</param>
public sealed record DmarcConfig(bool Enforce)
{
    /// <summary>
    /// Send daily DMARC aggregate reports about the mail this organization received to the <c>rua</c> of each sending
    /// domain. Off by default (opt-in): a report tells a third party which addresses sent this organization how much
    /// mail, which an organization should decide to share.
    /// </summary>
    public bool AggregateReports { get; init; }
}

/// <summary>Journaling (§14). When enabled both addresses are set.</summary>
public sealed record JournalingConfig(bool Enabled, string? JournalingAddress, string? ReportAddress);

/// <summary>Retention actions (§16).</summary>
public enum RetentionAction
{
    /// <summary>Move to Deleted Items (permanent when already there).</summary>
    Delete,
    /// <summary>Expunge.</summary>
    PermanentlyDelete,
}

/// <summary>The retention policy: at most one entry per folder.</summary>
public sealed record RetentionPolicyConfig(IReadOnlyList<RetentionFolderConfig> Folders)
{
    /// <summary>The policy's id (WorkMail's PutRetentionPolicy Id), or null when none was given.</summary>
    public string? Id { get; init; }

    /// <summary>The policy's name, or null.</summary>
    public string? Name { get; init; }

    /// <summary>The policy's description, or null.</summary>
    public string? Description { get; init; }

    /// <summary>The folders a policy can name (docs/decisions.md, "Retention").</summary>
    public static IReadOnlyList<string> KnownFolders { get; } = ["Inbox", "Sent Items", "Drafts", "Deleted Items", "Junk E-mail"];
}

/// <summary>Items in <see cref="Folder"/> older than <see cref="Days"/> get <see cref="Action"/>.</summary>
public sealed record RetentionFolderConfig(string Folder, RetentionAction Action, int Days);

/// <summary>Email event logging (§18): on or off (live), and how many days of day files are kept (default 30).</summary>
public sealed record EmailEventLogConfig(bool Enabled, int RetentionDays = EmailEventLogConfig.DefaultRetentionDays)
{
    /// <summary>WorkMail's default log retention (§18.1).</summary>
    public const int DefaultRetentionDays = 30;

    /// <summary>The CloudWatch log group ARN a WorkMail script set (PutEmailMonitoringConfiguration); kept, not used: the log is local.</summary>
    public string? LogGroupArn { get; init; }

    /// <summary>The IAM role ARN a WorkMail script set; kept, not used.</summary>
    public string? RoleArn { get; init; }
}

/// <summary>The audit log (§19): how many days of day files are kept (default 365; the files hold no message content).</summary>
public sealed record AuditLogConfig(int RetentionDays = AuditLogConfig.DefaultRetentionDays)
{
    /// <summary>One year: audit trails are kept longer than the email event log's 30 days.</summary>
    public const int DefaultRetentionDays = 365;

    /// <summary>The settings when the section is absent.</summary>
    public static AuditLogConfig Default { get; } = new();
}

/// <summary>A bearer token of the message flow API (§11): the contexts it may read, and whether it may replace content.</summary>
public sealed record MessageFlowTokenConfig(string Token, IReadOnlyList<string> Contexts, bool AllowUpdate)
{
    /// <summary>The contexts of §11.</summary>
    public static IReadOnlyList<string> KnownContexts { get; } = ["incoming", "outgoing"];

    /// <summary>Never prints the token.</summary>
    public override string ToString() => $"MessageFlowToken [{string.Join(", ", Contexts)}]{(AllowUpdate ? " update" : "")}";
}

/// <summary>The organization's message flow API tokens (Organizations[].MessageFlowApi.Tokens); none: the API refuses every call.</summary>
public sealed record MessageFlowApiConfig(IReadOnlyList<MessageFlowTokenConfig> Tokens);

/// <summary>RFC 8461 §5: what a sending server does when the policy does not hold.</summary>
public enum MtaStsMode
{
    /// <summary>Refuse delivery to an MX that does not match or fails TLS.</summary>
    Enforce,
    /// <summary>Deliver anyway and report the failure (TLS-RPT).</summary>
    Testing,
    /// <summary>No policy in force (used to withdraw a published policy).</summary>
    None,
}

/// <summary>
/// The organization's MTA-STS policy (Organizations[].MtaSts), served for each of its domains at
/// https://mta-sts.DOMAIN/.well-known/mta-sts.txt. Absent: no policy is served and dns-records prints none.
/// </summary>
/// <param name="Mode">The policy mode.</param>
/// <param name="MaxAgeSeconds">How long senders cache the policy (RFC 8461 §3.2: at most 31557600).</param>
public sealed record MtaStsConfig(MtaStsMode Mode, int MaxAgeSeconds)
{
    /// <summary>One week, the value RFC 8461 §3.2's example uses.</summary>
    public const int DefaultMaxAgeSeconds = 604_800;

    /// <summary>RFC 8461 §3.2: max_age is at most 31557600 seconds (about one year).</summary>
    public const int MaxMaxAgeSeconds = 31_557_600;
}

/// <summary>A tag on the organization (TagResource): a key of 1–128 characters and a value of 0–256.</summary>
public sealed record TagConfig(string Key, string Value);

/// <summary>
/// One access key of the WorkMail API (Signature Version 4). <see cref="SecretAccessKey"/> is the secret itself (a
/// <c>file:PATH</c> value has been read at load); it is never logged or printed.
/// </summary>
public sealed record AdminApiAccessKey(string AccessKeyId, string SecretAccessKey)
{
    /// <summary>Never prints the secret.</summary>
    public override string ToString() => $"AdminApiAccessKey {AccessKeyId}";
}

/// <summary>The organization's WorkMail API access keys (Organizations[].AdminApi.AccessKeys).</summary>
public sealed record AdminApiConfig(IReadOnlyList<AdminApiAccessKey> AccessKeys);
