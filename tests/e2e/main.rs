mod controller;
mod deploy;
mod externalsecrets;
mod harness;
mod isolation;
mod keys;
mod servers;
mod web;
