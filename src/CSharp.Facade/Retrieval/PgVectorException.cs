namespace DistEmbed.Retrieval;

/// <summary>What went wrong between DistEmbed and a PostgreSQL database (see <see cref="PgVectorException.Problem"/>).</summary>
public enum PgVectorProblem
{
    /// <summary>The server could not be reached: nothing listens at the host and port (or socket), or the network failed.</summary>
    Unreachable,
    /// <summary>The server refused the user: a wrong password, an unknown role, or no pg_hba.conf entry allows it.</summary>
    Authentication,
    /// <summary>The database named in the connection string does not exist.</summary>
    MissingDatabase,
    /// <summary>The database lacks the pgvector extension (<c>CREATE EXTENSION vector</c> was not run, or the server has no pgvector).</summary>
    MissingExtension,
    /// <summary>The table does not exist.</summary>
    MissingTable,
    /// <summary>The table exists but was not written by DistEmbed, or its metadata disagrees with its embedding column.</summary>
    NotAVectorTable,
    /// <summary>An approximate (HNSW) search was asked of a table without its HNSW index.</summary>
    MissingIndex,
    /// <summary>Any other error reported by the server (its SQLSTATE is in the message).</summary>
    Server,
}

/// <summary>
/// A failure to talk to PostgreSQL or a database that does not hold what DistEmbed needs. The message is one line that
/// names the problem and the server (host, port, database, user; never the password) and says what to do.
/// </summary>
public sealed class PgVectorException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="problem">What went wrong.</param>
    /// <param name="message">One line naming the problem and what to do.</param>
    /// <param name="inner">The Npgsql or socket exception behind it, or null.</param>
    public PgVectorException(PgVectorProblem problem, string message, Exception? inner = null) : base(message, inner) =>
        Problem = problem;

    /// <summary>What went wrong.</summary>
    public PgVectorProblem Problem { get; }
}
