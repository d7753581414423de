//! What a read shows, apart from HTTP: a listing planned (`plan`: an index
//! in its order, or filtered and ordered in memory) and run (`page`: the
//! count, the keys, the items under the byte and memory budgets), and the
//! references of what is shown expanded to `levels` (`expand`). The
//! handlers in `api::read` parse the query into a `ListQuery` and shape
//! the response; the value order both paths keep is `content::order`.

pub mod cursor;
pub mod expand;
mod page;
mod plan;

pub use page::{list_page, page_meta, ListMeta, PageMeta, MAX_SKIP, PAGE_BYTES};
pub use plan::{ListQuery, Served};
