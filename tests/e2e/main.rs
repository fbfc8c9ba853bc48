mod controller;
mod externalsecrets;
mod harness;
mod servers;
mod web;
