using System.Collections.Concurrent;
using MimeKit;
using MimeKit.Cryptography;

namespace MailServer.Server.Dkim;

/// <summary>
/// Signs outbound messages for their From domain with every key in that domain's key folder
/// (<see cref="DkimKeyFile"/>): relaxed/relaxed, rsa-sha256 and ed25519-sha256 (RFC 6376, RFC 8463).
/// A domain without keys is left unsigned. Key files are read once and re-read when they change.
/// </summary>
public sealed class DkimMessageSigner(string dataDirectory, TimeProvider? time = null)
{
    /// <summary>
    /// The header fields signed when present (RFC 6376 §5.4.1's recommendations); From always.
    /// </summary>
    public static readonly IReadOnlyList<string> SignedHeaders =
    [
        "From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "Reply-To", "In-Reply-To", "References",
    ];

    private readonly ConcurrentDictionary<string, (DateTime Stamp, IReadOnlyList<DkimKeyFile> Keys)> _keys = new(StringComparer.OrdinalIgnoreCase);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>
    /// Adds a DKIM-Signature per key of the From domain, on top of the header. Call it last, on the message
    /// exactly as it will be sent: any later change to a signed header or the body breaks the signature.
    /// The body is first prepared for 7-bit transport so that no relay has to re-encode it.
    /// </summary>
    /// <returns>The signatures added (0 when the From domain has no key or the message has no single From mailbox).</returns>
    /// <exception cref="IOException">A key file could not be read.</exception>
    /// <exception cref="InvalidDataException">A key file holds no usable key.</exception>
    public int Sign(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.From.Mailboxes.ToList() is not [{ Domain: { Length: > 0 } domain }])
            return 0;
        var keys = KeysOf(domain.ToLowerInvariant());
        if (keys.Count == 0)
            return 0;
        message.Prepare(EncodingConstraint.SevenBit);
        var headers = SignedHeaders.Where(h => h == "From" || message.Headers.Contains(h)).ToList();
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        foreach (var key in keys)
        {
            var signer = new TimedSigner(key, _time)
            {
                HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
                BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            };
            signer.Sign(format, message, headers);
        }
        return keys.Count;
    }

    /// <summary>False when no domain has a key folder yet: callers can skip parsing a message they could not sign.</summary>
    public bool HasAnyKeys => Directory.Exists(System.IO.Path.Combine(dataDirectory, "dkim"));

    private IReadOnlyList<DkimKeyFile> KeysOf(string domain)
    {
        var folder = DkimKeyFile.FolderOf(dataDirectory, domain);
        var stamp = Directory.Exists(folder)
            ? Directory.GetFiles(folder, "*.key").Select(File.GetLastWriteTimeUtc).DefaultIfEmpty(DateTime.MinValue).Max()
            : DateTime.MinValue;
        if (_keys.TryGetValue(domain, out var cached) && cached.Stamp == stamp)
            return cached.Keys;
        var keys = DkimKeyFile.LoadAll(dataDirectory, domain);
        _keys[domain] = (stamp, keys);
        return keys;
    }

    /// <summary>MimeKit's signer with the t= timestamp from our clock.</summary>
    private sealed class TimedSigner(DkimKeyFile key, TimeProvider time) : DkimSigner(key.PrivateKey, key.Domain, key.Selector, key.Algorithm)
    {
        protected override long GetTimestamp() => time.GetUtcNow().ToUnixTimeSeconds();
    }
}
