using System.Text;

namespace MailServer.Server.Cli;

/// <summary>
/// The command-line parser. Hand-written: four verbs and two shared options do not justify a dependency, and
/// this keeps exit codes, stream injection (tests run verbs in-process) and help text fully under our control.
/// Grammar: <c>mailserver [VERB WORDS] [ARGUMENTS] [--config FILE] [--data DIR] [--help]</c>; options may appear
/// anywhere, as <c>--opt value</c> or <c>--opt=value</c>; <c>--</c> ends options.
/// </summary>
internal static class CommandLine
{
    public const string DefaultConfigFileName = "appsettings.json";

    public static IReadOnlyList<ICliCommand> Commands { get; } =
    [
        new RunCommand(),
        new ConfigCheckCommand(),
        new HashPasswordCommand(),
        new UserPasswdCommand(),
        new ImportWorkMailConfigCommand(),
        ImportMailboxCommand.Imap,
        ImportMailboxCommand.ExportZip,
        ImportMailboxCommand.Mbox,
        ImportMailboxCommand.Maildir,
        ImportJobsCommand.Status,
        ImportJobsCommand.Cancel,
        new ReindexCommand(),
        QueueCommand.List,
        QueueCommand.Retry,
        QueueCommand.Delete,
        QueueCommand.Held,
        new AccessTestCommand(),
        new EventsQueryCommand(),
        new RetentionCommand(),
        new DkimCommand(),
        new DnsRecordsCommand(),
        new TlsFingerprintCommand(),
        new RulesTestCommand(),
        KeysCommand.Status,
        KeysCommand.Rotate,
        KeysCommand.MailboxDelete,
        KeysCommand.BackupRun,
        KeysCommand.BackupVerify,
        KeysCommand.Restore,
    ];

    public static async Task<int> RunAsync(string[] args, CliConsole console)
    {
        // Pass 1 finds the verb from the leading words, so pass 2 knows which options it takes and which of
        // them consume a value.
        var verb = FindCommand(LeadingWords(args));

        string? config = null, data = null;
        var help = false;
        var words = new List<string>();
        var options = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var optionsEnded = false;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (optionsEnded || !arg.StartsWith('-') || arg == "-")
            {
                words.Add(arg);
                continue;
            }
            if (arg == "--")
            {
                optionsEnded = true;
                continue;
            }
            if (arg is "--help" or "-h" or "-?")
            {
                help = true;
                continue;
            }
            var (name, inline) = arg.IndexOf('=') is > 0 and var eq ? (arg[..eq], arg[(eq + 1)..]) : (arg, null);
            var own = verb?.Options.FirstOrDefault(o => o.Name == name);
            if (name is not ("--config" or "--data") && own is null)
                return Fail(console, $"unknown option '{name}'");
            if (own is { ValueName: null })
            {
                if (inline is not null)
                    return Fail(console, $"{name} takes no value");
                options.TryAdd(name, [""]);
                continue;
            }
            var value = inline ?? (i + 1 < args.Length ? args[++i] : null);
            if (string.IsNullOrEmpty(value))
                return Fail(console, $"{name} needs a value");
            if (name == "--config")
                config = value;
            else if (name == "--data")
                data = value;
            else if (options.TryGetValue(name, out var list))
            {
                if (!own!.Repeatable)
                    return Fail(console, $"{name} may be given only once");
                list.Add(value);
            }
            else
                options[name] = [value];
        }

        if (words is ["help", ..])
        {
            help = true;
            words.RemoveAt(0);
        }
        var command = FindCommand(words);
        if (words.Count == 0)
            command = Commands[0]; // plain `mailserver` runs the server
        if (command is null)
        {
            if (help && words.Count > 0 && Commands.Any(c => c.Name[0] == words[0]))
            {
                await console.Out.WriteAsync(GroupHelp(words[0])).ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            if (help)
            {
                await console.Out.WriteAsync(TopHelp()).ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            var known = Commands.Any(c => c.Name[0] == words[0]);
            return Fail(console, known ? $"'{string.Join(' ', words)}' needs a sub-command\n\n{GroupHelp(words[0])}" : $"unknown command '{words[0]}'");
        }
        if (help)
        {
            await console.Out.WriteAsync(words.Count == 0 ? TopHelp() : CommandHelp(command)).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        var positional = words.Skip(command.Name.Count).ToList();
        if (positional.Count > command.ArgumentCount || positional.Count < command.MinArgumentCount)
            return Fail(console, $"'{string.Join(' ', command.Name)}' takes {(command.ArgumentCount == 0 ? "no arguments" : command.ArgumentSyntax)}" +
                                 $"\nusage: {Usage(command)}");
        var given = options.ToDictionary(p => p.Key, p => (IReadOnlyList<string>)p.Value, StringComparer.Ordinal);
        return await command.RunAsync(new CliArguments(ResolveConfigPath(config), data, positional, given), console).ConfigureAwait(false);
    }

    /// <summary>A help column: padded to <paramref name="width"/>, and never running into the text after it.</summary>
    private static string Column(string text, int width) => text.Length < width ? text.PadRight(width) : text + "  ";

    private static ICliCommand? FindCommand(IReadOnlyList<string> words) => Commands
        .Where(c => c.Name.Count <= words.Count && c.Name.SequenceEqual(words.Take(c.Name.Count), StringComparer.Ordinal))
        .MaxBy(c => c.Name.Count);

    /// <summary>The words before the first option other than --config/--data (verb names come first).</summary>
    private static List<string> LeadingWords(string[] args)
    {
        var words = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith('-') || args[i] == "-")
                words.Add(args[i]);
            else if (args[i] is "--config" or "--data")
                i++;
            else if (!args[i].StartsWith("--config=", StringComparison.Ordinal) && !args[i].StartsWith("--data=", StringComparison.Ordinal)
                     && args[i] is not ("--help" or "-h" or "-?"))
                break;
        }
        return words;
    }

    /// <summary>--config FILE, else appsettings.json in the current directory, else next to the executable.</summary>
    public static string ResolveConfigPath(string? option)
    {
        if (option is not null)
            return Path.GetFullPath(option);
        var here = Path.GetFullPath(DefaultConfigFileName);
        if (File.Exists(here))
            return here;
        var besideExe = Path.Combine(AppContext.BaseDirectory, DefaultConfigFileName);
        return File.Exists(besideExe) ? besideExe : here;
    }

    private static int Fail(CliConsole console, string message)
    {
        console.Error.WriteLine($"mailserver: {message}");
        console.Error.WriteLine("Run 'mailserver --help' for usage.");
        return ExitCodes.InvalidInput;
    }

    private static string Usage(ICliCommand c) =>
        $"mailserver {string.Join(' ', c.Name)}{(c.ArgumentSyntax.Length > 0 ? " " + c.ArgumentSyntax : "")}" +
        string.Concat(c.Options.Select(o => $" [{o.Name}{(o.ValueName is null ? "" : " " + o.ValueName)}]{(o.Repeatable ? "..." : "")}")) +
        " [--config FILE] [--data DIR]";

    private static string OwnOptions(ICliCommand c) => c.Options.Count == 0 ? "" :
        "Command options:\n" + string.Concat(c.Options.Select(o =>
            $"  {Column(o.Name + (o.ValueName is null ? "" : " " + o.ValueName), 22)}{o.Help}\n")) + "\n";

    private const string CommonOptions =
        "Options:\n" +
        "  --config FILE   the configuration file (default: appsettings.json in the current directory,\n" +
        "                  else next to the executable)\n" +
        "  --data DIR      the data directory, overriding MailServer.DataDirectory\n" +
        "  -h, --help      show this help\n";

    private static string CommandHelp(ICliCommand c) =>
        $"usage: {Usage(c)}\n\n{c.Summary}\n\n{c.Details}\n\n{OwnOptions(c)}{CommonOptions}\nExit codes: 0 ok, 1 invalid input or configuration, 2 runtime failure.\n";

    private static string GroupHelp(string group)
    {
        var sb = new StringBuilder($"usage: mailserver {group} COMMAND [--config FILE] [--data DIR]\n\nCommands:\n");
        foreach (var c in Commands.Where(c => c.Name[0] == group))
            sb.Append($"  {Column(string.Join(' ', c.Name), 22)}{c.Summary}\n");
        return sb.ToString();
    }

    private static string TopHelp()
    {
        var sb = new StringBuilder("usage: mailserver [COMMAND] [--config FILE] [--data DIR]\n\n" +
                                   "A self-hosted SMTP and IMAP mail server. Without a command it runs the server.\n\nCommands:\n");
        foreach (var c in Commands)
            sb.Append($"  {Column(string.Join(' ', c.Name) + (c.ArgumentSyntax.Length > 0 ? " " + c.ArgumentSyntax : ""), 26)}{c.Summary}\n");
        sb.Append('\n').Append(CommonOptions).Append("\nRun 'mailserver COMMAND --help' for a command's details.\n");
        return sb.ToString();
    }
}
