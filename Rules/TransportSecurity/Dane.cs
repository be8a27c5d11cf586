using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MailServer.Rules.Dns;

namespace MailServer.Rules.TransportSecurity;

/// <summary>
/// DANE for SMTP (RFC 7672): which TLSA records apply and whether a server's certificates match them. Only
/// DANE-TA(2) and DANE-EE(3) are used for SMTP (§3.1.3: PKIX usages 0 and 1 are unusable); a record with an unknown
/// selector or matching type is unusable too. Callers act only on records from an authenticated (AD) answer.
/// </summary>
public static class Dane
{
    /// <summary>The usable records of a TLSA answer (RFC 7672 §3.1).</summary>
    public static IReadOnlyList<TlsaRecord> Usable(IEnumerable<TlsaRecord> records) =>
        records.Where(r => r.Usage is 2 or 3 && r.Selector is 0 or 1 && r.MatchingType is 0 or 1 or 2).ToList();

    /// <summary>
    /// True when the server's certificates satisfy one usable record: DANE-EE — the leaf matches (no name or
    /// expiry check, §3.1.1); DANE-TA — a certificate the server sent matches, the leaf chains to it and names
    /// <paramref name="host"/> (§3.1.2, reference identifier the MX host name, §3.2.2).
    /// </summary>
    /// <param name="records">Usable records (see <see cref="Usable"/>).</param>
    /// <param name="presented">The certificates the server sent, leaf first.</param>
    /// <param name="host">The MX host name.</param>
    public static bool Satisfied(IReadOnlyList<TlsaRecord> records, IReadOnlyList<X509Certificate2> presented, string host)
    {
        if (presented.Count == 0)
            return false;
        var leaf = presented[0];
        foreach (var record in records)
        {
            if (record.Usage == 3 && Matches(record, leaf))
                return true;
            if (record.Usage != 2)
                continue;
            foreach (var anchor in presented.Skip(1).Where(c => Matches(record, c)))
            {
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(anchor);
                chain.ChainPolicy.ExtraStore.AddRange(presented.Skip(1).ToArray());
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                if (chain.Build(leaf) && leaf.MatchesHostname(host))
                    return true;
            }
        }
        return false;
    }

    /// <summary>RFC 6698 §2.1.2–2.1.3: the selected part of <paramref name="certificate"/> against the record's data.</summary>
    public static bool Matches(TlsaRecord record, X509Certificate2 certificate)
    {
        byte[] selected = record.Selector == 0 ? certificate.RawData : certificate.PublicKey.ExportSubjectPublicKeyInfo();
        byte[] digest = record.MatchingType switch
        {
            0 => selected,
            1 => SHA256.HashData(selected),
            2 => SHA512.HashData(selected),
            _ => [],
        };
        return digest.Length > 0 && CryptographicOperations.FixedTimeEquals(digest, record.Data);
    }
}
