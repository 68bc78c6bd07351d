//! `bromsync user add|remove|list|reset`: the dashboard's users, managed from the command line.
//! `add` and `reset` print a one-time password, once: the database keeps only its argon2id
//! hash. A reset also ends the user's sessions and lifts a lock on the name.

use crate::config::Settings;
use crate::exit;
use crate::snapshot::SchoolId;
use crate::store::{DashboardRole, Store};

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Add a user and print their one-time password.
    Add(AddArgs),
    /// Remove a user (their sessions end at once).
    Remove {
        /// The user's name.
        username: String,
    },
    /// List the users, their role and schools (never a password).
    List,
    /// Give a user a new one-time password (their sessions end at once).
    Reset {
        /// The user's name.
        username: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    /// Sees every school, and the audit list.
    Operator,
    /// Sees the schools given with --school.
    School,
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The user's name (what they type at login).
    pub username: String,
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// A school the user is given (repeat for several); school users need at least one.
    #[arg(long = "school", value_name = "ID")]
    pub schools: Vec<SchoolId>,
}

/// A name a user can type: 1 to 200 characters, no spaces or control characters.
fn check_username(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 200 {
        return Err("a user name has 1 to 200 characters".to_owned());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a user name has no spaces or control characters".to_owned());
    }
    Ok(())
}

pub async fn run(settings: &Settings, command: &UserCommand) -> u8 {
    if let Err(message) = check(settings, command) {
        eprintln!("bromsync: {message}");
        return exit::BAD_CONFIG;
    }
    let store = match Store::connect(&settings.database.url, 2).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("bromsync: cannot use the database: {e}");
            return if e.is_schema_mismatch() {
                exit::NOT_MIGRATED
            } else {
                exit::FAILED
            };
        }
    };
    let code = match act(&store, command).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("bromsync: {message}");
            exit::FAILED
        }
    };
    store.close().await;
    code
}

/// What can be refused before the database is asked.
fn check(settings: &Settings, command: &UserCommand) -> Result<(), String> {
    match command {
        UserCommand::Add(args) => {
            check_username(&args.username)?;
            match args.role {
                RoleArg::Operator if !args.schools.is_empty() => {
                    return Err("an operator sees every school: leave out --school".to_owned());
                }
                RoleArg::School if args.schools.is_empty() => {
                    return Err("a school user needs at least one --school ID".to_owned());
                }
                _ => {}
            }
            for id in &args.schools {
                if settings.school(*id).is_none() {
                    return Err(format!("school {id} is not in the configuration"));
                }
            }
            Ok(())
        }
        UserCommand::Remove { username } | UserCommand::Reset { username } => {
            check_username(username)
        }
        UserCommand::List => Ok(()),
    }
}

async fn act(store: &Store, command: &UserCommand) -> Result<u8, String> {
    match command {
        UserCommand::Add(args) => {
            let password = super::auth::one_time_password();
            let hash = hash_off_thread(password.clone()).await?;
            let role = match args.role {
                RoleArg::Operator => DashboardRole::Operator,
                RoleArg::School => DashboardRole::School,
            };
            let added = store
                .dashboard_user_add(&args.username, role, &args.schools, &hash)
                .await
                .map_err(|e| e.to_string())?;
            if added.is_none() {
                eprintln!(
                    "bromsync: a user named {} exists already (reset their password with `bromsync user reset`)",
                    args.username
                );
                return Ok(exit::BAD_CONFIG);
            }
            println!(
                "user {} added ({}); one-time password, shown only now: {password}",
                args.username,
                role.as_str()
            );
            Ok(exit::OK)
        }
        UserCommand::Remove { username } => {
            if store
                .dashboard_user_remove(username)
                .await
                .map_err(|e| e.to_string())?
            {
                println!("user {username} removed");
                Ok(exit::OK)
            } else {
                eprintln!("bromsync: there is no user named {username}");
                Ok(exit::FAILED)
            }
        }
        UserCommand::List => {
            let users = store.dashboard_users().await.map_err(|e| e.to_string())?;
            if users.is_empty() {
                println!("no users (add one with `bromsync user add NAME --role operator`)");
            }
            for user in users {
                let schools = match user.role {
                    DashboardRole::Operator => "every school".to_owned(),
                    DashboardRole::School => user
                        .schools
                        .iter()
                        .map(|id| format!("school {id}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                println!("{}\t{}\t{schools}", user.username, user.role.as_str());
            }
            Ok(exit::OK)
        }
        UserCommand::Reset { username } => {
            let password = super::auth::one_time_password();
            let hash = hash_off_thread(password.clone()).await?;
            if store
                .dashboard_user_reset(username, &hash)
                .await
                .map_err(|e| e.to_string())?
            {
                println!(
                    "user {username}: new one-time password, shown only now: {password} (their sessions are ended)"
                );
                Ok(exit::OK)
            } else {
                eprintln!("bromsync: there is no user named {username}");
                Ok(exit::FAILED)
            }
        }
    }
}

/// argon2id is slow by design: it runs on the blocking pool.
pub async fn hash_off_thread(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || super::auth::hash_password(&password))
        .await
        .map_err(|e| format!("hashing the password: {e}"))?
}
