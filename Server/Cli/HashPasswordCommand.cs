using MailServer.Server.Security;

namespace MailServer.Server.Cli;

/// <summary><c>mailserver hash-password</c>: prints the PHC hash of the password on standard input.</summary>
internal sealed class HashPasswordCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["hash-password"];
    public string ArgumentSyntax => "";
    public int ArgumentCount => 0;
    public string Summary => "read a password from standard input and print its hash for PasswordHash";
    public string Details => PasswordInput.PolicyText + "\nThe hash is PBKDF2-SHA256 in PHC format: $pbkdf2-sha256$i=600000,l=32$SALT$HASH.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        var password = await PasswordInput.ReadAsync(console).ConfigureAwait(false);
        if (password is null)
            return ExitCodes.InvalidInput;
        await console.Out.WriteLineAsync(PasswordHasher.Hash(password)).ConfigureAwait(false);
        return ExitCodes.Ok;
    }
}
