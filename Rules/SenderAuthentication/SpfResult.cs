using System.Net;

namespace MailServer.Rules.SenderAuthentication;

/// <summary>The seven results of RFC 7208 §2.6.</summary>
public enum SpfResult
{
    /// <summary>No SPF record, or no checkable domain (§2.6.1).</summary>
    None,
    /// <summary>The domain makes no assertion (§2.6.2; also the result when nothing matched and no redirect).</summary>
    Neutral,
    /// <summary>The client is authorized (§2.6.3).</summary>
    Pass,
    /// <summary>The client is explicitly not authorized (§2.6.4).</summary>
    Fail,
    /// <summary>Probably not authorized (§2.6.5).</summary>
    SoftFail,
    /// <summary>A transient DNS error (§2.6.6).</summary>
    TempError,
    /// <summary>The published records could not be interpreted (§2.6.7).</summary>
    PermError,
}

/// <summary>Which identity SPF checked (RFC 7208 §2.3, §2.4).</summary>
public enum SpfIdentity
{
    /// <summary>The RFC 5321 MAIL FROM address.</summary>
    MailFrom,
    /// <summary>The HELO/EHLO name, used when MAIL FROM is the null reverse-path.</summary>
    Helo,
}

/// <summary>
/// The outcome of one SPF evaluation. <see cref="Domain"/> is the domain checked (the MAIL FROM domain, or the
/// HELO name), which DMARC aligns against (RFC 7489 §3.1.2).
/// </summary>
/// <param name="Result">The RFC 7208 result.</param>
/// <param name="Identity">Which identity was checked.</param>
/// <param name="Domain">The domain checked; "" when no checkable domain was given.</param>
/// <param name="Sender">The sender given to check_host (postmaster@HELO for a null reverse-path).</param>
/// <param name="ClientAddress">The SMTP client's address.</param>
/// <param name="Explanation">The expanded <c>exp=</c> text for a <see cref="SpfResult.Fail"/>, when published.</param>
/// <param name="Problem">Why the result is temperror/permerror (for logs and the header comment).</param>
public sealed record SpfVerdict(
    SpfResult Result,
    SpfIdentity Identity,
    string Domain,
    string Sender,
    IPAddress ClientAddress,
    string? Explanation = null,
    string? Problem = null);
