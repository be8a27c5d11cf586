using MailServer.Rules.Dns;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;

namespace MailServer.Rules.SenderAuthentication;

/// <summary>Why a DKIM public key could not be had; <see cref="Temporary"/> decides temperror against permerror.</summary>
public sealed class DkimKeyUnavailableException(string message, bool temporary) : Exception(message)
{
    /// <summary>A DNS failure that may pass (RFC 6376 §6.1.2 TEMPFAIL).</summary>
    public bool Temporary { get; } = temporary;
}

/// <summary>
/// MimeKit's key locator over the server's <see cref="IDnsResolver"/>: the TXT record at
/// <c>&lt;selector&gt;._domainkey.&lt;domain&gt;</c> (RFC 6376 §3.6.2.1), parsed by MimeKit (k=rsa and k=ed25519).
/// Used by both <see cref="DkimVerifier"/> and <see cref="ArcVerifier"/>.
/// </summary>
public sealed class DnsDkimPublicKeyLocator(IDnsResolver dns) : DkimPublicKeyLocatorBase
{
    /// <summary>Blocks on <see cref="LocatePublicKeyAsync"/>; MimeKit's synchronous verifiers need it, ours use the async one.</summary>
    /// <exception cref="DkimKeyUnavailableException">No usable key (see <see cref="DkimKeyUnavailableException.Temporary"/>).</exception>
    public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
        LocatePublicKeyAsync(methods, domain, selector, cancellationToken).GetAwaiter().GetResult();

    /// <summary>Looks the key up in DNS.</summary>
    /// <exception cref="DkimKeyUnavailableException">No usable key (see <see cref="DkimKeyUnavailableException.Temporary"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public override async Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default)
    {
        // RFC 6376 §3.5 q=: "dns/txt" is the only method defined.
        if (!string.IsNullOrEmpty(methods) && !methods.Split(':').Any(m => m.Trim().Equals("dns/txt", StringComparison.OrdinalIgnoreCase)))
            throw new DkimKeyUnavailableException($"unsupported query method '{methods}'", temporary: false);
        var name = $"{selector}._domainkey.{domain}";
        var answer = await dns.LookupTxtAsync(name, cancellationToken).ConfigureAwait(false);
        if (answer.IsTemporaryFailure)
            throw new DkimKeyUnavailableException($"DNS failure looking up {name}", temporary: true);
        if (answer.Records.Count == 0)
            throw new DkimKeyUnavailableException($"no key record at {name}", temporary: false);
        foreach (var txt in answer.Records)
        {
            // RFC 6376 §3.6.1: an empty p= means the key was revoked.
            if (System.Text.RegularExpressions.Regex.IsMatch(txt, @"(^|;)\s*p\s*=\s*(;|$)"))
                throw new DkimKeyUnavailableException($"key at {name} is revoked", temporary: false);
            try
            {
                return GetPublicKey(txt);
            }
            catch (Exception e) when (e is FormatException or MimeKit.ParseException or ArgumentException or InvalidCastException)
            {
                // try the next record, if any
            }
        }
        throw new DkimKeyUnavailableException($"no usable key record at {name}", temporary: false);
    }
}
