using System.Security.Cryptography;

namespace MailServer.Server.Security;

/// <summary>
/// The WorkMail directory password policy (WorkMail Administrator Guide, "Users", fixed): at least 8 and fewer than 64
/// characters, only Basic Latin or Latin-1 Supplement characters, and characters from at least 3 of 5 classes:
/// upper case, lower case, digits, special characters, Latin-1 Supplement letters.
/// </summary>
public static class PasswordPolicy
{
    /// <summary>Shortest acceptable length.</summary>
    public const int MinLength = 8;

    /// <summary>Passwords must be shorter than this.</summary>
    public const int MaxLengthExclusive = 64;

    /// <summary>Every reason <paramref name="password"/> is refused; empty when it is acceptable.</summary>
    public static IReadOnlyList<string> Check(string password)
    {
        var problems = new List<string>();
        if (password.Length == 0)
            return ["the password is empty"];
        if (password.Length < MinLength)
            problems.Add($"it has {password.Length} characters; at least {MinLength} are needed");
        if (password.Length >= MaxLengthExclusive)
            problems.Add($"it has {password.Length} characters; it must have fewer than {MaxLengthExclusive}");
        bool upper = false, lower = false, digit = false, special = false, latin1 = false, foreign = false;
        foreach (var c in password)
        {
            if (char.IsAsciiLetterUpper(c)) upper = true;
            else if (char.IsAsciiLetterLower(c)) lower = true;
            else if (char.IsAsciiDigit(c)) digit = true;
            else if (c is >= ' ' and <= '~') special = true;
            else if (c is >= '\u00A0' and <= '\u00FF') latin1 = true;
            else foreign = true;
        }
        if (foreign)
            problems.Add("it may contain only Basic Latin and Latin-1 Supplement characters (no control characters)");
        var classes = (upper ? 1 : 0) + (lower ? 1 : 0) + (digit ? 1 : 0) + (special ? 1 : 0) + (latin1 ? 1 : 0);
        if (classes < 3)
            problems.Add($"it uses {classes} of the 5 character classes (upper case, lower case, digits, special characters, " +
                         "Latin-1 letters such as é); at least 3 are needed");
        return problems;
    }

    /// <summary>A random 20-character password that satisfies the policy (all four ASCII classes).</summary>
    public static string Generate()
    {
        const string upper = "ABCDEFGHJKLMNPQRSTUVWXYZ", lower = "abcdefghijkmnopqrstuvwxyz", digits = "23456789", special = "-_.!@#%+=";
        const string all = upper + lower + digits + special;
        while (true)
        {
            var candidate = RandomNumberGenerator.GetString(all, 20);
            if (candidate.Any(upper.Contains) && candidate.Any(lower.Contains) && candidate.Any(digits.Contains) && candidate.Any(special.Contains))
                return candidate;
        }
    }
}
