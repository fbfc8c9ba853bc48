mod controller;
mod deploy;
mod externalsecrets;
mod harness;
mod isolation;
mod servers;
mod web;
