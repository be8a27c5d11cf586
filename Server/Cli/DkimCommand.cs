using MailServer.Server.Configuration;
using MailServer.Server.Dkim;
using MimeKit.Cryptography;

namespace MailServer.Server.Cli;

/// <summary><c>mailserver dkim generate DOMAIN [--selector S] [--ed25519]</c>: creates the DKIM signing keys of a domain.</summary>
internal sealed class DkimCommand : ICliCommand
{
    /// <summary>The selector used when none is given.</summary>
    public const string DefaultSelector = "mail";

    public IReadOnlyList<string> Name { get; } = ["dkim", "generate"];
    public string ArgumentSyntax => "DOMAIN";
    public int ArgumentCount => 1;
    public IReadOnlyList<CliOption> Options { get; } = [new("--selector", "S", "the selector (default: mail)"), new("--ed25519", null, "also write an ed25519-sha256 key, selector S-ed25519 (RFC 8463)")];
    public string Summary => "create a DKIM signing key for a domain (rsa-sha256 2048, optionally ed25519 too)";
    public string Details =>
        "Writes <DataDirectory>/dkim/DOMAIN/SELECTOR.key (PEM, mode 0600) with a new RSA 2048 key and prints the\n" +
        "TXT record to publish at SELECTOR._domainkey.DOMAIN. Outbound mail from DOMAIN is signed with every key in\n" +
        "that folder from then on. An existing key file is never overwritten: choose a new selector to rotate keys.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
        {
            await console.Error.WriteLineAsync($"mailserver: {arguments.ConfigPath} is invalid; run 'mailserver config check'.").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        var domain = arguments.Arguments[0].Trim().TrimEnd('.').ToLowerInvariant();
        if (!config.Organizations.SelectMany(o => o.Domains).Any(d => d.Name.Equals(domain, StringComparison.OrdinalIgnoreCase)))
        {
            await console.Error.WriteLineAsync($"mailserver: {domain} is not a domain of any organization in {arguments.ConfigPath}.").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        var selector = arguments.Value("--selector") ?? DefaultSelector;
        var wanted = new List<(string Selector, DkimSignatureAlgorithm Algorithm)> { (selector, DkimSignatureAlgorithm.RsaSha256) };
        if (arguments.Flag("--ed25519"))
            wanted.Add((selector + "-ed25519", DkimSignatureAlgorithm.Ed25519Sha256));

        foreach (var (name, algorithm) in wanted)
        {
            DkimKeyFile key;
            try
            {
                key = DkimKeyFile.Generate(config.DataDirectory, domain, name, algorithm);
            }
            catch (ArgumentException e)
            {
                await console.Error.WriteLineAsync($"mailserver: {e.Message}").ConfigureAwait(false);
                return ExitCodes.InvalidInput;
            }
            catch (IOException e)
            {
                await console.Error.WriteLineAsync($"mailserver: could not write the key for selector {name}: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
            await console.Out.WriteLineAsync($"wrote {key.Path}").ConfigureAwait(false);
            await console.Out.WriteLineAsync(DnsRecordsCommand.DkimRecord(key)).ConfigureAwait(false);
        }
        return ExitCodes.Ok;
    }
}
