using MailServer.Server.Security;

namespace MailServer.Server.Cli;

/// <summary>Reads a password from standard input (the first line) and applies the password policy.</summary>
internal static class PasswordInput
{
    /// <summary>The password, or null after printing why it is refused.</summary>
    public static async Task<string?> ReadAsync(CliConsole console)
    {
        var line = await console.In.ReadLineAsync(console.CancellationToken).ConfigureAwait(false);
        if (line is null)
        {
            await console.Error.WriteLineAsync("mailserver: no password on standard input (give it as the first line)").ConfigureAwait(false);
            return null;
        }
        var problems = PasswordPolicy.Check(line);
        if (problems.Count == 0)
            return line;
        await console.Error.WriteLineAsync("mailserver: password refused by the password policy:").ConfigureAwait(false);
        foreach (var p in problems)
            await console.Error.WriteLineAsync($"  - {p}").ConfigureAwait(false);
        return null;
    }

    public const string PolicyText =
        "The password is the first line of standard input. Policy (WorkMail directory): at least 8 and fewer than\n" +
        "64 characters, Basic Latin or Latin-1 characters only, and at least 3 of: upper case, lower case, digits,\n" +
        "special characters, Latin-1 letters (such as é).";
}
