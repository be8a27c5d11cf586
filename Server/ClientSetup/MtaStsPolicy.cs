using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MailServer.Server.Configuration;

namespace MailServer.Server.ClientSetup;

/// <summary>
/// The MTA-STS policy (RFC 8461) an organization publishes for its domains: served at
/// <c>https://mta-sts.DOMAIN/.well-known/mta-sts.txt</c> and announced by the <c>_mta-sts.DOMAIN</c> TXT record,
/// whose id changes whenever the policy text does.
/// </summary>
public static class MtaStsPolicy
{
    /// <summary>RFC 8461 §3.3: the policy is served as text/plain.</summary>
    public const string ContentType = "text/plain";

    /// <summary>The path of the policy under the mta-sts host (RFC 8461 §3.3).</summary>
    public const string Path = "/.well-known/mta-sts.txt";

    /// <summary>
    /// The policy text (RFC 8461 §3.2): version, mode, one mx line per server name, max_age; CRLF-terminated lines.
    /// </summary>
    /// <param name="policy">Mode and max_age.</param>
    /// <param name="mxNames">The host names senders may deliver to (the server's names).</param>
    public static string Text(MtaStsConfig policy, IEnumerable<string> mxNames)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(mxNames);
        var sb = new StringBuilder();
        sb.Append("version: STSv1\r\n");
        sb.Append("mode: ").Append(policy.Mode switch
        {
            MtaStsMode.Enforce => "enforce",
            MtaStsMode.Testing => "testing",
            _ => "none",
        }).Append("\r\n");
        foreach (var mx in mxNames)
            sb.Append("mx: ").Append(mx.TrimEnd('.').ToLowerInvariant()).Append("\r\n");
        sb.Append("max_age: ").Append(policy.MaxAgeSeconds.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        return sb.ToString();
    }

    /// <summary>
    /// The id of the <c>_mta-sts</c> TXT record for a policy text (RFC 8461 §3.1: 1 to 32 letters and digits):
    /// the first 20 hex digits of its SHA-256, so it changes exactly when the policy does.
    /// </summary>
    public static string Id(string policyText) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(policyText)))[..20];

    /// <summary>The <c>_mta-sts</c> TXT record's text for a policy text.</summary>
    public static string DnsRecordText(string policyText) => $"v=STSv1; id={Id(policyText)}";
}
