//! Small drawing helpers shared by the panes: horizontal bars and bucketed sparklines, both as
//! styled spans so they compose into table-like rows.

pub mod bar;
pub mod sparkline;
