using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MailServer.Server.Security;
using MailServer.Rules.Addressing;
using MailServer.Rules.FlowRules;

namespace MailServer.Server.Configuration;

/// <summary>
/// Reads appsettings.json into a <see cref="ServerConfig"/>, checking every rule and collecting every
/// error with its JSON path; nothing is half-applied.
/// </summary>
/// <remarks>
/// Path resolution:
/// <list type="bullet">
/// <item><c>DataDirectory</c> (default "data"), when relative, resolves against the folder holding the config file,
/// so the server finds the same data whatever the working directory.</item>
/// <item><c>--data DIR</c> replaces <c>DataDirectory</c>; a relative DIR resolves against the current directory,
/// like any command-line path.</item>
/// <item><c>MasterKeyPath</c> (default <c>keys/&lt;alias&gt;.key</c>), <c>Tls.CertificatePath</c> and
/// <c>Tls.KeyPath</c>, when relative, resolve against the resolved data directory: key material lives with the
/// data it protects.</item>
/// </list>
/// Password hashes: a user without a PasswordHash takes the one stored for its primary address in
/// <c>&lt;DataDirectory&gt;/passwords.json</c> (<see cref="PasswordFile"/>), where first-start passwords and
/// <c>mailserver user passwd</c> write, so the administrator's file is not rewritten.
/// Only the "MailServer" section is read; other top-level sections (such as "Logging") belong to the host.
/// JSON comments and trailing commas are allowed. Key names are case-sensitive; an unknown key is an error.
/// </remarks>
public static partial class ConfigLoader
{
    /// <summary>The top-level section this loader reads.</summary>
    public const string SectionName = "MailServer";

    private const string Root = "$." + SectionName;

    internal static readonly JsonDocumentOptions DocumentOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>Reads and validates the file. Never throws for a bad file or an unreadable one: see the errors.</summary>
    /// <param name="configPath">The appsettings.json path (relative to the current directory if relative).</param>
    /// <param name="dataDirectoryOverride">The --data option, or null.</param>
    public static ConfigLoadResult Load(string configPath, string? dataDirectoryOverride = null)
    {
        var fullPath = Path.GetFullPath(configPath);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(fullPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new ConfigLoadResult.Invalid([new ConfigError("$", $"cannot read {fullPath}: {e.Message}")]);
        }
        return Parse(bytes, fullPath, dataDirectoryOverride);
    }

    /// <summary>Validates file content as if read from <paramref name="configPath"/> (used for path resolution).</summary>
    public static ConfigLoadResult Parse(ReadOnlyMemory<byte> utf8Json, string configPath, string? dataDirectoryOverride = null)
    {
        var fullPath = Path.GetFullPath(configPath);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8Json, DocumentOptions);
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? $" at line {line + 1}, position {(e.BytePositionInLine ?? 0) + 1}" : "";
            return new ConfigLoadResult.Invalid([new ConfigError("$", $"not valid JSON{where}")]);
        }
        using (document)
        {
            var errors = new List<ConfigError>();
            var config = new Parser(errors, fullPath, dataDirectoryOverride).Read(document.RootElement);
            return errors.Count == 0 && config is not null
                ? new ConfigLoadResult.Ok(config)
                : new ConfigLoadResult.Invalid(errors.Count > 0 ? errors : [new ConfigError("$", "invalid")]);
        }
    }

    /// <summary>Convenience for text (tests, tools).</summary>
    public static ConfigLoadResult Parse(string json, string configPath, string? dataDirectoryOverride = null) =>
        Parse(Encoding.UTF8.GetBytes(json), configPath, dataDirectoryOverride);

    [GeneratedRegex("^m-[0-9a-f]{32}$")]
    private static partial Regex OrganizationId();

    [GeneratedRegex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex OrganizationAlias();

    private sealed partial class Parser(List<ConfigError> errors, string configPath, string? dataOverride)
    {
        // Server-wide uniqueness: value → path of first use.
        private readonly Dictionary<string, string> _addresses = new(StringComparer.OrdinalIgnoreCase);
        private readonly Dictionary<string, string> _domains = new(StringComparer.OrdinalIgnoreCase);
        private readonly Dictionary<string, string> _aliases = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _ids = new(StringComparer.Ordinal);
        private string _dataDirectory = "";
        private Dictionary<string, string> _storedHashes = new(StringComparer.OrdinalIgnoreCase);

        private void Add(string path, string message) => errors.Add(new ConfigError(path, message));

        public ServerConfig? Read(JsonElement root)
        {
            if (root.ValueKind != JsonValueKind.Object)
            {
                Add("$", $"expected an object, found {JsonObjectReader.Describe(root)}");
                return null;
            }
            if (!root.TryGetProperty(SectionName, out var section))
            {
                Add(Root, "is required");
                return null;
            }
            var ms = JsonObjectReader.Open(section, Root, errors);
            if (ms is null)
                return null;

            var serverName = ms.String("ServerName") ?? Environment.MachineName.ToLowerInvariant();
            if (!AddressSyntax.IsValidDomain(serverName, requireDot: false))
                ms.Error("ServerName", $"'{serverName}' is not a valid host name");

            var dataValue = ms.String("DataDirectory") ?? "data";
            _dataDirectory = dataOverride is not null
                ? Path.GetFullPath(dataOverride)
                : Path.GetFullPath(dataValue, Path.GetDirectoryName(configPath)!);
            // Hashes the server and the CLI wrote, kept out of this file (PasswordFile); appsettings.json's own win.
            _storedHashes = PasswordFile.Read(PasswordFile.PathIn(_dataDirectory), Add);

            var tls = ReadTls(ms.Object("Tls"), serverName);
            var listeners = ReadListeners(ms.Object("Listeners"), ms.PathOf("Listeners"), acme: tls.Acme is not null);
            var dns = ReadDns(ms.Object("Dns"));
            var delivery = DeliveryConfig.Default;
            if (ms.Object("Delivery") is { } d)
            {
                var x = DeliveryConfig.Default;
                delivery = new DeliveryConfig(
                    d.Int("RemotePort", x.RemotePort, 1, 65535),
                    d.Int("QueueLifetimeHours", x.QueueLifetimeHours, 1, 24 * 30),
                    d.Int("DelayWarningHours", x.DelayWarningHours, 1, 24 * 30),
                    d.Int("RetryMinimumSeconds", x.RetryMinimumSeconds, 1, 24 * 3600),
                    d.Int("RetryMaximumSeconds", x.RetryMaximumSeconds, 1, 24 * 3600),
                    d.Int("MaxConnectionsPerDomain", x.MaxConnectionsPerDomain, 1, 100))
                {
                    HookRetryMinimumSeconds = d.Int("HookRetryMinimumSeconds", x.HookRetryMinimumSeconds, 1, 3600),
                    HookRetryMaximumSeconds = d.Int("HookRetryMaximumSeconds", x.HookRetryMaximumSeconds, 1, 3600),
                    MtaStsPolicyPort = d.Int("MtaStsPolicyPort", x.MtaStsPolicyPort, 1, 65535),
                    TlsReports = d.Bool("TlsReports", x.TlsReports),
                };
                if (delivery.RetryMaximumSeconds < delivery.RetryMinimumSeconds)
                    d.Error("RetryMaximumSeconds", "must not be less than RetryMinimumSeconds");
                if (delivery.HookRetryMaximumSeconds < delivery.HookRetryMinimumSeconds)
                    d.Error("HookRetryMaximumSeconds", "must not be less than HookRetryMinimumSeconds");
                d.Finish();
            }
            var limits = ReadLimits(ms.Object("Limits"));
            var contentFiltering = ReadContentFiltering(ms.Object("ContentFiltering"));
            var storage = ReadStorage(ms.Object("Storage"));
            var organizations = ms.Array("Organizations", ReadOrganization, required: true);
            ms.Finish();

            return new ServerConfig(configPath, serverName, _dataDirectory, listeners, tls, dns, delivery, limits, organizations)
            {
                ContentFiltering = contentFiltering,
                Storage = storage,
            };
        }

        private ListenersConfig ReadListeners(JsonObjectReader? l, string path, bool acme)
        {
            var bind = IPAddress.Any;
            int smtp = 2525, submission = 2587, submissions = 2465, imap = 2143, imaps = 2993, https = ListenersConfig.DefaultHttps;
            var http = ListenersConfig.DefaultHttp;
            var admin = new IPEndPoint(IPAddress.Loopback, 8025);
            if (l is null)
                return new ListenersConfig(bind, smtp, submission, submissions, imap, imaps, admin, https);

            if (l.String("BindAddress") is { } b)
            {
                if (IPAddress.TryParse(b, out var parsed))
                    bind = parsed;
                else
                    l.Error("BindAddress", $"'{b}' is not an IP address");
            }
            smtp = l.Int("Smtp", smtp, 1, 65535);
            submission = l.Int("Submission", submission, 1, 65535);
            submissions = l.Int("Submissions", submissions, 1, 65535);
            imap = l.Int("Imap", imap, 1, 65535);
            imaps = l.Int("Imaps", imaps, 1, 65535);
            https = l.Int("Https", https, 1, 65535);
            http = l.Int("Http", http, 1, 65535);
            if (l.String("Admin") is { } a)
            {
                if (IPEndPoint.TryParse(a, out var ep) && ep.Port is > 0 and <= 65535 && a.Contains(':'))
                    admin = ep;
                else
                    l.Error("Admin", $"'{a}' is not an address:port such as 127.0.0.1:8025");
            }
            l.Finish();

            var seen = new Dictionary<int, string>();
            var ports = new List<(string, int)> { ("Smtp", smtp), ("Submission", submission), ("Submissions", submissions),
                ("Imap", imap), ("Imaps", imaps), ("Https", https), ("Admin", admin.Port) };
            if (acme)
                ports.Add(("Http", http)); // the HTTP listener opens only for ACME
            foreach (var (name, port) in ports)
            {
                if (!seen.TryAdd(port, name))
                    Add(JsonObjectReader.Child(path, name), $"port {port} is already used by {seen[port]}");
            }
            return new ListenersConfig(bind, smtp, submission, submissions, imap, imaps, admin, https) { Http = http };
        }

        private TlsConfig ReadTls(JsonObjectReader? t, string serverName)
        {
            if (t is null)
                return new TlsConfig(null, null, false);
            var cert = t.String("CertificatePath");
            var key = t.String("KeyPath");
            var allow = t.Bool("AllowPlaintextAuth", false);
            var acme = ReadAcme(t.Object("Acme"), serverName);
            t.Finish();
            if (acme is not null && (cert is not null || key is not null))
                t.Error("Acme", "Acme and CertificatePath/KeyPath are exclusive: the certificate comes from the ACME CA or from the files");
            if ((cert is null) != (key is null))
            {
                t.Error(cert is null ? "CertificatePath" : "KeyPath", "CertificatePath and KeyPath are set together or not at all");
                return new TlsConfig(null, null, allow);
            }
            string? certFull = null, keyFull = null;
            if (cert is not null && key is not null)
            {
                certFull = Path.GetFullPath(cert, _dataDirectory);
                keyFull = Path.GetFullPath(key, _dataDirectory);
                if (!File.Exists(certFull))
                    t.Error("CertificatePath", $"file not found: {certFull}");
                if (!File.Exists(keyFull))
                    t.Error("KeyPath", $"file not found: {keyFull}");
            }
            return new TlsConfig(certFull, keyFull, allow) { Acme = acme };
        }

        private AcmeConfig? ReadAcme(JsonObjectReader? a, string serverName)
        {
            if (a is null)
                return null;
            var url = a.String("DirectoryUrl", required: true);
            var email = a.String("Email", required: true)?.Trim().ToLowerInvariant();
            var domains = a.Strings("Domains", (value, path) =>
            {
                var name = value.Trim().TrimEnd('.').ToLowerInvariant();
                if (AddressSyntax.IsValidDomain(name, requireDot: true))
                    return name;
                Add(path, $"'{value}' is not a fully qualified domain name (ACME CAs issue only for public names)");
                return null;
            });
            a.Finish();
            Uri? directory = null;
            if (url is not null && (!Uri.TryCreate(url, UriKind.Absolute, out directory) || directory.Scheme != Uri.UriSchemeHttps))
                a.Error("DirectoryUrl", $"'{url}' is not an https:// URL (RFC 8555 §6.1: ACME runs over HTTPS only)");
            if (email is not null && !AddressSyntax.IsValidAddress(email))
                a.Error("Email", $"'{email}' is not an email address");
            var names = domains.Distinct().ToList();
            if (names.Count == 0)
            {
                if (!AddressSyntax.IsValidDomain(serverName, requireDot: true))
                    a.Error("Domains", $"empty, and ServerName '{serverName}' is not a fully qualified domain name to default to");
                names.Add(serverName);
            }
            return directory is null || email is null ? null : new AcmeConfig(directory, email, names);
        }

        private DnsConfig ReadDns(JsonObjectReader? d)
        {
            if (d is null)
                return new DnsConfig([], 53, 5);
            var servers = d.Array("Servers", (e, path) =>
            {
                if (e.ValueKind == JsonValueKind.String && IPAddress.TryParse(e.GetString(), out var ip))
                    return ip;
                Add(path, "expected an IP address string");
                return null;
            });
            var port = d.Int("Port", 53, 1, 65535);
            var timeout = d.Int("TimeoutSeconds", 5, 1, 60);
            d.Finish();
            return new DnsConfig(servers, port, timeout);
        }

        private static LimitsConfig ReadLimits(JsonObjectReader? l)
        {
            var x = LimitsConfig.Default;
            if (l is null)
                return x;
            var result = new LimitsConfig(
                MaxMessageSizeMiB: l.Int("MaxMessageSizeMiB", x.MaxMessageSizeMiB, 1, 2047),
                // RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted.
                MaxRecipients: l.Int("MaxRecipients", x.MaxRecipients, 100, 100_000),
                MaxAttachments: l.Int("MaxAttachments", x.MaxAttachments, 1, 100_000),
                MaxMimeParts: l.Int("MaxMimeParts", x.MaxMimeParts, 1, 100_000),
                ExternalRecipientsPerUserPerDay: l.Int("ExternalRecipientsPerUserPerDay", x.ExternalRecipientsPerUserPerDay, 1, int.MaxValue),
                // RFC 5321 §4.5.3.1.4/§4.5.3.1.6: command lines up to 512 octets must be accepted.
                MaxCommandLineBytes: l.Int("MaxCommandLineBytes", x.MaxCommandLineBytes, 512, 65_536),
                MaxHeaderSectionKiB: l.Int("MaxHeaderSectionKiB", x.MaxHeaderSectionKiB, 1, 10_240),
                MaxMimeDepth: l.Int("MaxMimeDepth", x.MaxMimeDepth, 1, 1000),
                MaxConnectionsPerIp: l.Int("MaxConnectionsPerIp", x.MaxConnectionsPerIp, 1, 100_000),
                // RFC 5321 §4.5.3.2.7: the server timeout should be at least 5 minutes; we let the admin lower it.
                SessionTimeoutSeconds: l.Int("SessionTimeoutSeconds", x.SessionTimeoutSeconds, 10, 86_400))
            {
                // One message is always admitted when nothing else is in flight, so the budget may be below the message size.
                MaxBytesInFlightMiB = l.Int("MaxBytesInFlightMiB", x.MaxBytesInFlightMiB, 1, 1_048_576),
                // RFC 5321 §4.5.3.2.6: the client waits 10 minutes for the reply to its final dot; the wait leaves a minute
                // of it for processing.
                BytesInFlightWaitSeconds = l.Int("BytesInFlightWaitSeconds", x.BytesInFlightWaitSeconds, 0, 540),
            };
            l.Finish();
            return result;
        }

        private OrganizationConfig? ReadOrganization(JsonElement element, string path)
        {
            var o = JsonObjectReader.Open(element, path, errors);
            if (o is null)
                return null;

            var id = o.String("Id", required: true) ?? "";
            if (id.Length > 0)
            {
                if (!OrganizationId().IsMatch(id))
                    o.Error("Id", $"'{id}' does not match ^m-[0-9a-f]{{32}}$ (m- and 32 lower-case hex digits)");
                else if (!_ids.TryAdd(id, o.PathOf("Id")))
                    o.Error("Id", $"'{id}' is already used at {_ids[id]}");
            }
            var alias = o.String("Alias", required: true) ?? "";
            if (alias.Length > 0)
            {
                if (!OrganizationAlias().IsMatch(alias))
                    o.Error("Alias", $"'{alias}' must be lower-case letters, digits and '-', at most 63 characters");
                else if (!_aliases.TryAdd(alias, o.PathOf("Alias")))
                    o.Error("Alias", $"'{alias}' is already used at {_aliases[alias]}");
            }
            var masterKey = Path.GetFullPath(o.String("MasterKeyPath", required: o.Has("MasterKeyPath")) ?? $"keys/{(alias.Length > 0 ? alias : id)}.key", _dataDirectory);
            var keyProvider = o.Enum<MasterKeyProviderKind>("MasterKeyProvider", MasterKeyProviderKind.File) ?? MasterKeyProviderKind.File;
            var keyName = o.String("MasterKeyName");
            if (keyName is not null && keyProvider == MasterKeyProviderKind.File)
                o.Error("MasterKeyName", "applies to the Environment, SystemdCredential and Pkcs11 providers only (the File provider uses MasterKeyPath)");
            else if (keyName is not null && !MasterKeyNameSyntax().IsMatch(keyName))
                o.Error("MasterKeyName", $"'{keyName}' must be letters, digits, '_', '-' or '.', at most 100 characters");
            var keySource = new MasterKeySourceConfig(keyProvider, keyName ?? MasterKeySourceConfig.DefaultName(keyProvider, alias.Length > 0 ? alias : id));
            Pkcs11Config? pkcs11 = null;
            if (o.Object("Pkcs11") is { } p11)
            {
                var library = p11.String("Library", required: true);
                var token = p11.String("TokenLabel", required: true);
                var pinFile = p11.String("PinFile");
                var pinVariable = p11.String("PinEnvironmentVariable");
                if (keyProvider != MasterKeyProviderKind.Pkcs11)
                    p11.Error("Library", "Pkcs11 applies to MasterKeyProvider \"Pkcs11\" only");
                if (library is not null && !File.Exists(Path.GetFullPath(library, _dataDirectory)))
                    p11.Error("Library", $"the PKCS#11 module {Path.GetFullPath(library, _dataDirectory)} does not exist (Debian: /usr/lib/softhsm/libsofthsm2.so from softhsm2, or your HSM vendor's module)");
                if (token is { Length: > 32 })
                    p11.Error("TokenLabel", "a PKCS#11 token label has at most 32 characters");
                if ((pinFile is null) == (pinVariable is null))
                    p11.Error("PinFile", "give exactly one of PinFile (a file holding the user PIN, relative to DataDirectory) and PinEnvironmentVariable");
                if (pinVariable is not null && !MasterKeyNameSyntax().IsMatch(pinVariable))
                    p11.Error("PinEnvironmentVariable", $"'{pinVariable}' must be letters, digits, '_', '-' or '.', at most 100 characters");
                p11.Finish();
                if (library is not null && token is not null)
                    pkcs11 = new Pkcs11Config(Path.GetFullPath(library, _dataDirectory), token,
                        pinFile is null ? null : Path.GetFullPath(pinFile, _dataDirectory), pinVariable);
            }
            else if (keyProvider == MasterKeyProviderKind.Pkcs11)
                o.Error("MasterKeyProvider", "the Pkcs11 provider needs a \"Pkcs11\" object: { \"Library\", \"TokenLabel\", \"PinFile\" or \"PinEnvironmentVariable\" }");

            var domains = o.Array("Domains", ReadDomain, required: true);
            var defaults = 0;
            if (o.TryGet("Domains", out var domainsElement) && domainsElement.ValueKind == JsonValueKind.Array)
            {
                var i = 0;
                foreach (var e in domainsElement.EnumerateArray())
                {
                    if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("Default", out var dv) && dv.ValueKind == JsonValueKind.True)
                    {
                        defaults++;
                        if (defaults > 1)
                            Add(JsonObjectReader.Item(o.PathOf("Domains"), i) + ".Default", "only one domain can be the default");
                    }
                    i++;
                }
                if (defaults == 0 && domainsElement.GetArrayLength() > 0)
                    o.Error("Domains", "exactly one domain must have \"Default\": true");
                if (domainsElement.GetArrayLength() == 0)
                    o.Error("Domains", "an organization needs at least one domain");
            }
            var ownDomains = new HashSet<string>(domains.Select(d => d.Name), StringComparer.OrdinalIgnoreCase);

            // Addresses of this organization, for membership and permission checks: address → (kind, primary).
            var local = new Dictionary<string, (bool IsUser, string Primary)>(StringComparer.OrdinalIgnoreCase);

            string? OwnAddress(string value, string p)
            {
                var a = value.Trim().ToLowerInvariant();
                if (!AddressSyntax.IsValidAddress(a))
                {
                    Add(p, $"'{value}' is not a valid email address");
                    return null;
                }
                if (!ownDomains.Contains(AddressSyntax.DomainOf(a)))
                {
                    Add(p, $"'{value}' is not in one of this organization's domains ({string.Join(", ", ownDomains)})");
                    return null;
                }
                return a;
            }

            bool Claim(string address, string p, bool isUser, string primary)
            {
                // §14: journal records come from a reserved address of the domain that no mailbox may take.
                if (MailServer.Rules.Journaling.JournalReport.IsReservedSender(address))
                {
                    Add(p, $"'{address}' is reserved: journal records are sent from {MailServer.Rules.Journaling.JournalReport.ReservedLocalPart}@<domain>");
                    return false;
                }
                if (!_addresses.TryAdd(address, p))
                {
                    Add(p, $"'{address}' is already used at {_addresses[address]}");
                    return false;
                }
                local[address] = (isUser, primary);
                return true;
            }

            var users = o.Array("Users", (e, p) => ReadUser(e, p, OwnAddress, Claim));
            var groups = o.Array("Groups", (e, p) => ReadGroup(e, p, OwnAddress, Claim));

            // Group members: users or groups of this organization, by any of their addresses (§4.4).
            CheckGroupMembers(o, local);

            var postmaster = ReadPostmaster(o, local, users);
            var permissions = o.Array("MailboxPermissions", (e, p) => ReadPermission(e, p, local));
            var accessRules = o.Array("AccessControlRules", (e, p) => ReadAccessRule(e, p, local));
            CheckUniqueNames(accessRules.Select(r => r.Name), o.PathOf("AccessControlRules"), "access control rule");

            var gateways = o.Array("SmtpGateways", ReadGateway);
            CheckUniqueNames(gateways.Select(g => g.Name), o.PathOf("SmtpGateways"), "SMTP gateway");
            var gatewayNames = gateways.Select(g => g.Name).ToHashSet(StringComparer.Ordinal);

            var flow = ReadFlowRules(o.Object("FlowRules"), gatewayNames);

            var defaultGateway = o.String("DefaultSmtpGateway");
            if (defaultGateway is not null && !gatewayNames.Contains(defaultGateway))
                o.Error("DefaultSmtpGateway", $"no SMTP gateway is named '{defaultGateway}'");

            var dmarc = new DmarcConfig(true);
            if (o.Object("Dmarc") is { } dm)
            {
                dmarc = new DmarcConfig(dm.Bool("Enforce", true)) { AggregateReports = dm.Bool("AggregateReports", false) };
                dm.Finish();
            }
            var journaling = ReadJournaling(o.Object("Journaling"));
            var retention = ReadRetention(o.Object("RetentionPolicy"));
            var eventLog = new EmailEventLogConfig(true);
            if (o.Object("EmailEventLog") is { } el)
            {
                eventLog = new EmailEventLogConfig(el.Bool("Enabled", true),
                    el.Int("RetentionDays", EmailEventLogConfig.DefaultRetentionDays, 1, 3650))
                {
                    LogGroupArn = el.String("LogGroupArn"),
                    RoleArn = el.String("RoleArn"),
                };
                el.Finish();
            }
            var messageFlowApi = ReadMessageFlowApi(o.Object("MessageFlowApi"));
            var auditLog = AuditLogConfig.Default;
            if (o.Object("AuditLog") is { } al)
            {
                auditLog = new AuditLogConfig(al.Int("RetentionDays", AuditLogConfig.DefaultRetentionDays, 1, 3650));
                al.Finish();
            }
            MtaStsConfig? mtaSts = null;
            if (o.Object("MtaSts") is { } ms)
            {
                var mode = ms.Enum<MtaStsMode>("Mode", null, required: true);
                // RFC 8461 §3.2: max_age is a plain integer of at most 31557600 seconds.
                var maxAge = ms.Int("MaxAgeSeconds", MtaStsConfig.DefaultMaxAgeSeconds, 1, MtaStsConfig.MaxMaxAgeSeconds);
                ms.Finish();
                if (mode is { } m)
                    mtaSts = new MtaStsConfig(m, maxAge);
            }
            var adminApi = ReadAdminApi(o.Object("AdminApi"));
            var tags = ReadTags(o);
            var contentFiltering = ReadOrganizationContentFiltering(o.Object("ContentFiltering"));
            CheckEntityIdsAndNames(o, id, users, groups);
            o.Finish();

            return new OrganizationConfig(id, alias, masterKey, domains, users, groups, permissions, accessRules, flow,
                gateways, defaultGateway, dmarc, journaling, retention, eventLog, messageFlowApi, auditLog, mtaSts)
            {
                Postmaster = postmaster,
                MasterKeySource = keySource,
                Pkcs11 = pkcs11,
                AdminApi = adminApi,
                Tags = tags,
                ContentFiltering = contentFiltering,
            };

            void CheckGroupMembers(JsonObjectReader org, Dictionary<string, (bool IsUser, string Primary)> addresses)
            {
                if (!org.TryGet("Groups", out var ge) || ge.ValueKind != JsonValueKind.Array)
                    return;
                var gi = 0;
                foreach (var g in ge.EnumerateArray())
                {
                    var gpath = JsonObjectReader.Item(org.PathOf("Groups"), gi++);
                    if (g.ValueKind != JsonValueKind.Object || !g.TryGetProperty("Members", out var members) || members.ValueKind != JsonValueKind.Array)
                        continue;
                    var self = g.TryGetProperty("Email", out var em) && em.ValueKind == JsonValueKind.String ? em.GetString()!.Trim() : null;
                    var mi = 0;
                    foreach (var m in members.EnumerateArray())
                    {
                        var mpath = JsonObjectReader.Item(gpath + ".Members", mi++);
                        if (m.ValueKind != JsonValueKind.String)
                            continue; // reported by ReadGroup
                        var member = m.GetString()!.Trim();
                        if (!addresses.ContainsKey(member))
                            Add(mpath, $"'{member}' is not a user or group of this organization");
                        else if (self is not null && string.Equals(addresses[member].Primary, self, StringComparison.OrdinalIgnoreCase))
                            Add(mpath, "a group cannot be a member of itself");
                    }
                }
            }
        }

        private DomainConfig? ReadDomain(JsonElement element, string path)
        {
            var d = JsonObjectReader.Open(element, path, errors);
            if (d is null)
                return null;
            var name = d.String("Name", required: true);
            var isDefault = d.Bool("Default", false);
            d.Finish();
            if (name is null)
                return null;
            var lower = name.Trim().ToLowerInvariant();
            if (!AddressSyntax.IsValidDomain(lower))
            {
                d.Error("Name", lower.Any(c => c > 127)
                    ? $"'{name}' is not ASCII: write an internationalized domain in its A-label form (xn--...)"
                    : $"'{name}' is not a valid domain name");
                return null;
            }
            if (!_domains.TryAdd(lower, d.PathOf("Name")))
            {
                d.Error("Name", $"'{lower}' already belongs to {_domains[lower]}");
                return null;
            }
            return new DomainConfig(lower, isDefault);
        }

        private UserConfig? ReadUser(JsonElement element, string path, Func<string, string, string?> ownAddress,
            Func<string, string, bool, string, bool> claim)
        {
            var u = JsonObjectReader.Open(element, path, errors);
            if (u is null)
                return null;
            var emailRaw = u.String("Email", required: true);
            var email = emailRaw is null ? null : ownAddress(emailRaw, u.PathOf("Email"));
            if (email is not null)
                claim(email, u.PathOf("Email"), true, email);
            var displayName = u.String("DisplayName") ?? (email is null ? "" : AddressSyntax.LocalPartOf(email));
            var aliases = u.Strings("Aliases", (s, p) =>
            {
                var a = ownAddress(s, p);
                return a is not null && email is not null && claim(a, p, true, email) ? a : null;
            });
            if (u.TryGet("Aliases", out var ae) && ae.ValueKind == JsonValueKind.Array && ae.GetArrayLength() > 100)
                u.Error("Aliases", $"a user can have at most 100 aliases, found {ae.GetArrayLength()}");
            var hash = u.String("PasswordHash");
            if (hash is not null && !PasswordHasher.IsSupportedHash(hash))
            {
                u.Error("PasswordHash", "is not a password hash this server can verify: expected $pbkdf2-sha256$i=...,l=32$salt$hash " +
                                        "(use `mailserver hash-password` or `mailserver user passwd`)");
                hash = null;
            }
            else if (hash is null && email is not null && _storedHashes.TryGetValue(email, out var stored))
            {
                hash = stored;
            }
            var enabled = u.Bool("Enabled", true);
            var quota = u.Int("MailboxQuotaMiB", UserConfig.MaxQuotaMiB, 1, UserConfig.MaxQuotaMiB);
            var mailboxRules = ReadMailboxRules(u);
            var (entityId, name, hidden) = ReadEntityKeys(u, UserNamePattern());
            var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var key in UserConfig.AttributeNames)
                if (u.String(key) is { } value)
                {
                    if (value.Length > 256)
                        u.Error(key, "must be at most 256 characters");
                    attributes[key] = value;
                }
            u.Finish();
            return email is null ? null : new UserConfig(email, displayName, aliases, hash, enabled, quota, mailboxRules)
            {
                Id = entityId, Name = name, Attributes = attributes, HiddenFromGlobalAddressList = hidden,
            };
        }

        private GroupConfig? ReadGroup(JsonElement element, string path, Func<string, string, string?> ownAddress,
            Func<string, string, bool, string, bool> claim)
        {
            var g = JsonObjectReader.Open(element, path, errors);
            if (g is null)
                return null;
            var emailRaw = g.String("Email", required: true);
            var email = emailRaw is null ? null : ownAddress(emailRaw, g.PathOf("Email"));
            if (email is not null)
                claim(email, g.PathOf("Email"), false, email);
            var aliases = g.Strings("Aliases", (s, p) =>
            {
                var a = ownAddress(s, p);
                return a is not null && email is not null && claim(a, p, false, email) ? a : null;
            });
            var members = g.Strings("Members", (s, _) => s.Trim().ToLowerInvariant());
            var (entityId, name, hidden) = ReadEntityKeys(g, GroupNamePattern());
            var enabled = g.Bool("Enabled", true);
            g.Finish();
            return email is null ? null : new GroupConfig(email, aliases, members.Distinct(StringComparer.OrdinalIgnoreCase).ToList())
            {
                Id = entityId, Name = name, Enabled = enabled, HiddenFromGlobalAddressList = hidden,
            };
        }

        /// <summary>
        /// <c>Postmaster</c>: a user or group of this organization (any of its addresses) that postmaster@ and abuse@
        /// reach (RFC 5321 §4.5.1); a disabled user would refuse that mail, so it is refused here. Null: the first
        /// enabled user (the server says so when it loads the configuration).
        /// </summary>
        private string? ReadPostmaster(JsonObjectReader o, Dictionary<string, (bool IsUser, string Primary)> local, IReadOnlyList<UserConfig> users)
        {
            var value = o.String("Postmaster");
            if (value is null)
                return null;
            if (!local.TryGetValue(value.Trim(), out var entry))
            {
                o.Error("Postmaster", $"'{value}' is not a user or group of this organization");
                return null;
            }
            if (entry.IsUser && users.FirstOrDefault(u => u.Email == entry.Primary) is { Enabled: false })
            {
                o.Error("Postmaster", $"'{value}' is a disabled user: postmaster and abuse mail to it would be refused");
                return null;
            }
            return entry.Primary;
        }

        private MailboxPermissionConfig? ReadPermission(JsonElement element, string path,
            Dictionary<string, (bool IsUser, string Primary)> local)
        {
            var p = JsonObjectReader.Open(element, path, errors);
            if (p is null)
                return null;
            string? Entity(string key)
            {
                var s = p.String(key, required: true);
                if (s is null)
                    return null;
                if (local.TryGetValue(s.Trim(), out var entry))
                    return entry.Primary;
                p.Error(key, $"'{s}' is not a user or group of this organization");
                return null;
            }
            var mailbox = Entity("Mailbox");
            var grantee = Entity("Grantee");
            var permissions = p.Array("Permissions", (e, ip) =>
            {
                if (e.ValueKind == JsonValueKind.String && System.Enum.TryParse<MailboxPermission>(e.GetString(), false, out var v)
                    && System.Enum.IsDefined(v) && !int.TryParse(e.GetString(), out _))
                    return (MailboxPermission?)v;
                Add(ip, $"expected one of: {string.Join(", ", System.Enum.GetNames<MailboxPermission>())}");
                return null;
            }, required: true).Select(x => x!.Value).Distinct().ToList();
            if (p.Has("Permissions") && permissions.Count == 0 && element.GetProperty("Permissions").ValueKind == JsonValueKind.Array
                && element.GetProperty("Permissions").GetArrayLength() == 0)
                p.Error("Permissions", "grant at least one permission");
            p.Finish();
            if (mailbox is null || grantee is null)
                return null;
            // §5: groups have no mailbox, so Full Access can only be granted on a user's mailbox.
            if (permissions.Contains(MailboxPermission.FullAccess) && !local[mailbox].IsUser)
                p.Error("Permissions", "FullAccess can only be granted on a user's mailbox, not on a group");
            return new MailboxPermissionConfig(mailbox, grantee, permissions);
        }

        private AccessControlRuleConfig? ReadAccessRule(JsonElement element, string path,
            Dictionary<string, (bool IsUser, string Primary)> local)
        {
            var r = JsonObjectReader.Open(element, path, errors);
            if (r is null)
                return null;
            var name = r.String("Name", required: true);
            var effect = r.Enum<AccessEffect>("Effect", null, required: true);
            string? Protocol(string s, string p)
            {
                if (AccessControlRuleConfig.KnownProtocols.Contains(s, StringComparer.Ordinal))
                    return s;
                Add(p, $"'{s}' is not one of: {string.Join(", ", AccessControlRuleConfig.KnownProtocols)}");
                return null;
            }
            IPNetwork? Range(JsonElement e, string p)
            {
                var s = e.ValueKind == JsonValueKind.String ? e.GetString()!.Trim() : null;
                if (s is not null && IPNetwork.TryParse(s, out var net))
                    return net;
                if (s is not null && !s.Contains('/') && IPAddress.TryParse(s, out var ip))
                    return new IPNetwork(ip, ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
                Add(p, "expected an IPv4 or IPv6 CIDR range such as 192.0.2.0/24");
                return null;
            }
            string? User(string s, string p)
            {
                if (local.TryGetValue(s.Trim(), out var entry) && entry.IsUser)
                    return entry.Primary;
                Add(p, $"'{s}' is not a user of this organization");
                return null;
            }
            var rule = new AccessControlRuleConfig(
                name ?? "",
                effect ?? AccessEffect.Deny,
                r.Strings("Protocols", Protocol),
                r.Strings("NotProtocols", Protocol),
                r.Array("IpRanges", (e, p) => Range(e, p) is { } n ? (object)n : null).Cast<IPNetwork>().ToList(),
                r.Array("NotIpRanges", (e, p) => Range(e, p) is { } n ? (object)n : null).Cast<IPNetwork>().ToList(),
                r.Strings("Users", User),
                r.Strings("NotUsers", User)) { Description = r.String("Description") };
            if (rule.Description is { Length: > 255 })
                r.Error("Description", "must be at most 255 characters");
            r.Finish();
            return name is null || effect is null ? null : rule;
        }

        private SmtpGatewayConfig? ReadGateway(JsonElement element, string path)
        {
            var g = JsonObjectReader.Open(element, path, errors);
            if (g is null)
                return null;
            var name = g.String("Name", required: true);
            var host = g.String("Host", required: true);
            if (host is not null && !AddressSyntax.IsValidDomain(host, requireDot: false) && !IPAddress.TryParse(host, out _))
                g.Error("Host", $"'{host}' is not a host name or IP address");
            var port = g.Int("Port", 587, 1, 65535);
            var user = g.String("Username");
            var password = g.String("Password");
            if ((user is null) != (password is null))
                g.Error(user is null ? "Username" : "Password", "Username and Password are set together or not at all");
            var security = g.Enum<SmtpGatewaySecurity>("Security", SmtpGatewaySecurity.StartTls);
            g.Finish();
            return name is null || host is null || security is null
                ? null
                : new SmtpGatewayConfig(name, host, port, user, password, security.Value);
        }

        /// <summary>
        /// Reads the FlowRules section's shape (types, required keys, action names per direction, the hook's URL); what
        /// the rules mean (patterns, names, limits, gateway and hook requirements) is checked once, by the rule engine's
        /// own compiler (<see cref="FlowRuleSet.Compile"/>), whose errors come back here with their JSON paths.
        /// </summary>
        private FlowRulesConfig ReadFlowRules(JsonObjectReader? f, HashSet<string> gateways)
        {
            if (f is null)
                return new FlowRulesConfig([], []);
            var (inbound, inboundIndexes) = ReadFlowRuleArray(f, "Inbound", FlowRulesConfig.InboundActions);
            var (outbound, outboundIndexes) = ReadFlowRuleArray(f, "Outbound", FlowRulesConfig.OutboundActions);
            f.Finish();
            if (FlowRuleSet.Compile(inbound.Select(FlowRulesMapping.ToDefinition).ToList(), outbound.Select(FlowRulesMapping.ToDefinition).ToList(), gateways)
                is FlowRuleCompilation.Invalid invalid)
            {
                foreach (var error in invalid.Errors)
                    Add(FlowRulePath(f.Path, error.Path, inboundIndexes, outboundIndexes), error.Message);
            }
            return new FlowRulesConfig(inbound, outbound);
        }

        /// <summary>The rules of one direction that could be read, and each one's index in the config's array.</summary>
        private (List<FlowRuleConfig> Rules, List<int> Indexes) ReadFlowRuleArray(JsonObjectReader f, string key, IReadOnlyList<string> actions)
        {
            var indexes = new List<int>();
            var next = 0;
            var rules = f.Array(key, (e, p) =>
            {
                var index = next++;
                var rule = ReadFlowRule(e, p, actions);
                if (rule is not null)
                    indexes.Add(index);
                return rule;
            });
            return (rules, indexes);
        }

        /// <summary>
        /// The JSON path of a compiler error ("Inbound[1].SenderPatterns[0]", or "" for the whole section): the
        /// compiler counts only the rules it was given, so its index is mapped back to the rule's place in the file.
        /// </summary>
        private static string FlowRulePath(string sectionPath, string errorPath, List<int> inboundIndexes, List<int> outboundIndexes)
        {
            if (errorPath.Length == 0)
                return sectionPath;
            var match = System.Text.RegularExpressions.Regex.Match(errorPath, @"^(Inbound|Outbound)\[(\d+)\](.*)$");
            if (!match.Success)
                return sectionPath + "." + errorPath;
            var indexes = match.Groups[1].Value == "Inbound" ? inboundIndexes : outboundIndexes;
            var compiled = int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            return $"{sectionPath}.{match.Groups[1].Value}[{indexes[compiled]}]{match.Groups[3].Value}";
        }

        private FlowRuleConfig? ReadFlowRule(JsonElement element, string path, IReadOnlyList<string> actions)
        {
            var r = JsonObjectReader.Open(element, path, errors);
            if (r is null)
                return null;
            var name = r.String("Name", required: true);
            var action = r.Name("Action", actions, null, required: true);
            // Patterns are kept as written (trimmed, lower case); the compiler says which are not patterns.
            var senders = r.Strings("SenderPatterns", (value, _) => value.Trim().ToLowerInvariant());
            var recipients = r.Strings("RecipientPatterns", (value, _) => value.Trim().ToLowerInvariant());
            var gateway = r.String("SmtpGateway");
            var hookReader = r.Object("Hook");
            var hook = hookReader is null ? null : ReadHook(hookReader, actions);
            r.Finish();
            return name is null || action is null || (hookReader is not null && hook is null)
                ? null
                : new FlowRuleConfig(name, action, senders, recipients, gateway, hook);
        }

        private HookConfig? ReadHook(JsonObjectReader h, IReadOnlyList<string> actions)
        {
            var url = h.String("Url", required: true);
            Uri? uri = null;
            if (url is not null && !Uri.TryCreate(url, UriKind.Absolute, out uri))
                h.Error("Url", $"'{url}' is not an absolute http or https URL");
            var synchronous = h.Bool("Synchronous", false);
            var fallback = h.Name("FallbackAction", actions.Where(a => a != "RunHook").ToList(), "Default");
            // The range (§35 #23: 0–240 minutes) is the compiler's to check.
            var timeout = h.Int("RuleTimeoutMinutes", 0, int.MinValue, int.MaxValue);
            var secret = h.String("Secret");
            h.Finish();
            return uri is null || fallback is null ? null : new HookConfig(uri, synchronous, fallback, timeout, secret);
        }

        private JournalingConfig ReadJournaling(JsonObjectReader? j)
        {
            if (j is null)
                return new JournalingConfig(false, null, null);
            var enabled = j.Bool("Enabled", false);
            string? Address(string key)
            {
                var s = j.String(key, required: enabled);
                if (s is null)
                    return null;
                var a = s.Trim().ToLowerInvariant();
                if (AddressSyntax.IsValidAddress(a))
                    return a;
                j.Error(key, $"'{s}' is not a valid email address");
                return null;
            }
            var journal = Address("JournalingAddress");
            var report = Address("ReportAddress");
            j.Finish();
            return new JournalingConfig(enabled, journal, report);
        }

        private RetentionPolicyConfig ReadRetention(JsonObjectReader? r)
        {
            if (r is null)
                return new RetentionPolicyConfig([]);
            var seen = new Dictionary<string, string>(StringComparer.Ordinal);
            var folders = r.Array("Folders", (e, p) =>
            {
                var f = JsonObjectReader.Open(e, p, errors);
                if (f is null)
                    return null;
                var folder = f.Name("Folder", RetentionPolicyConfig.KnownFolders, null, required: true);
                var action = f.Enum<RetentionAction>("Action", null, required: true);
                var days = f.Int("Days", 0, 1, 36_500);
                if (!f.Has("Days"))
                    f.Error("Days", "is required");
                f.Finish();
                if (folder is not null && !seen.TryAdd(folder, f.PathOf("Folder")))
                    f.Error("Folder", $"'{folder}' already has a policy at {seen[folder]}");
                return folder is null || action is null || days == 0 ? null : new RetentionFolderConfig(folder, action.Value, days);
            });
            var policyId = r.String("Id");
            var policyName = r.String("Name");
            foreach (var (key, value) in new[] { ("Id", policyId), ("Name", policyName) })
                if (value is not null && !RetentionPolicyName().IsMatch(value))
                    r.Error(key, $"'{value}' must be 1 to 64 letters, digits, '_' or '-'");
            var description = r.String("Description");
            if (description is { Length: > 256 })
                r.Error("Description", "must be at most 256 characters");
            r.Finish();
            return new RetentionPolicyConfig(folders) { Id = policyId, Name = policyName, Description = description };
        }

        private void CheckUniqueNames(IEnumerable<string> names, string arrayPath, string what)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var name in names)
                if (!seen.Add(name))
                    Add(arrayPath, $"two {what}s are named '{name}'");
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z0-9_.-]{1,100}$")]
    private static partial System.Text.RegularExpressions.Regex MasterKeyNameSyntax();
}
